export * from './livesource_wasm.js';

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/**
 * Loads and instantiates the wasm module (streaming compilation when served as application/wasm).
 * Idempotent: every call returns the first call's promise.
 */
export default function init(options?: { module_or_path?: InitInput | Promise<InitInput> }): Promise<void>;

/** Instantiates the wasm module synchronously from bytes or a compiled module. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): void;
