// The `livesource` package entry. It wraps the wasm-bindgen module (livesource_wasm.js) so that
// - `init()` is idempotent and safe to call from several modules at once (one fetch, compiled
//   while streaming);
// - using the API before `init()` throws an error that says so, instead of a wasm trap;
// - an open LiveSource stays alive until it is closed, like a native EventSource, even if the
//   page keeps no reference to it (wasm-bindgen frees unreachable objects when they are
//   garbage-collected, which would close the stream at a random moment).
import wasmInit, {
  initSync as wasmInitSync,
  LiveSource as WasmLiveSource,
  autoWire as wasmAutoWire,
} from './livesource_wasm.js';

export { AutoWiring, PatchStore } from './livesource_wasm.js';

let ready;
let loaded = false;

/** Loads the wasm module once; later and concurrent calls share the first call's promise. */
export default function init(options) {
  ready ??= wasmInit(options).then(() => {
    loaded = true;
  });
  return ready;
}

/** Synchronous init from bytes or a compiled module (for workers and tests). */
export function initSync(options) {
  if (!loaded) {
    wasmInitSync(options);
    loaded = true;
  }
}

function ensureLoaded(what) {
  if (!loaded) {
    throw new Error(`livesource: ${what} was called before the wasm module was loaded; \`await init()\` first`);
  }
}

// Open sources are held here until they close: nothing else may keep them reachable.
const open = new Set();

export class LiveSource extends WasmLiveSource {
  #stores = [];

  constructor(url, options) {
    ensureLoaded('new LiveSource()');
    super(url, options);
    open.add(this);
    super.onState((state) => {
      if (state === 'closed') this.#release();
    });
  }

  patches(event, options) {
    const store = super.patches(event, options);
    // A store lives as long as its source: subscribers may hold no reference to it.
    this.#stores.push(store);
    return store;
  }

  close() {
    super.close();
    this.#release();
  }

  #release() {
    open.delete(this);
    this.#stores = [];
  }
}

export function autoWire(root) {
  ensureLoaded('autoWire()');
  return wasmAutoWire(root);
}
