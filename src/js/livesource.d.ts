// The public surface, by name: not `export *`, which would also declare the wasm module's own
// `start` and `InitOutput` (the raw exports, whose names the build minifies), which this entry
// does not export. tests/e2e/npm.test.mjs checks the list against the generated declarations.
export { LiveSource, PatchStore, AutoWiring, autoWire } from './livesource_wasm.js';
export type {
  LiveState, LiveErrorKind, LiveError, EventMeta, BackoffOptions, LiveSourceOptions, SwapMode,
  RefreshOptions, PatchOptions, Unsubscribe,
} from './livesource_wasm.js';

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/**
 * Loads and instantiates the wasm module (streaming compilation when served as application/wasm).
 * Idempotent: every call returns the first call's promise.
 */
export default function init(options?: { module_or_path?: InitInput | Promise<InitInput> }): Promise<void>;

/** Instantiates the wasm module synchronously from bytes or a compiled module. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): void;
