// JSON-Patch (RFC 6902 objects and compact tuples) applied to the JS state with structural
// sharing. Atomic by construction: containers are copied on write, so a failing op simply
// discards the new root and the state every subscriber holds was never touched.
//
// The rules are those of `livesource::patch::ops` (the `json-patch` crate): a patch is first
// checked whole (shape of every op), then applied op by op. Failures throw `{ index, message }`.

import { decimal } from '../io.js';

const has = Object.hasOwn;
// Own data properties only: a key named __proto__ is data, never the prototype. (Assignment is
// safe for every other key: JSON objects inherit only writable data properties.)
const define = (o, k, v) => {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
};
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const ESCAPE = /~(?![01])/;

// An array index token as a number (`0` or digits without a leading zero), or -1.
const index = decimal;

const fail = (index, message) => {
  throw { index, message };
};
const PATH = 'path is invalid';
const FROM = '"from" path is invalid';

// The decoded tokens of a pointer already checked by `pointer`.
const tokens = (p) => {
  const parts = [];
  if (p === '') return parts;
  let start = 1;
  for (;;) {
    const end = p.indexOf('/', start);
    let t = end < 0 ? p.substring(start) : p.substring(start, end);
    if (t.indexOf('~') >= 0) t = t.replace(/~1/g, '/').replace(/~0/g, '~');
    parts.push(t);
    if (end < 0) return parts;
    start = end + 1;
  }
};

// ---- checking ---------------------------------------------------------------------------------

const SHAPE = { add: '[op, path, value]', replace: '[op, path, value]', test: '[op, path, value]', remove: '[op, path]', move: '[op, from, path]', copy: '[op, from, path]' };
const OPS = '`add`, `remove`, `replace`, `move`, `copy`, `test`';

// How many values follow the op name in a tuple: 2, 1 for remove, 0 for an unknown op.
const arity = (op) => {
  switch (op) {
    case 'add': case 'replace': case 'test': case 'move': case 'copy': return 2;
    case 'remove': return 1;
    default: return 0;
  }
};

function pointer(i, value, field) {
  if (typeof value !== 'string') fail(i, `invalid type for \`${field}\`: expected a JSON pointer string`);
  if (value !== '' && value.charCodeAt(0) !== 47) fail(i, `invalid JSON pointer '${value}' in \`${field}\`: it must be empty or start with '/'`);
  if (value.indexOf('~') >= 0 && ESCAPE.test(value)) fail(i, `invalid JSON pointer '${value}' in \`${field}\`: '~' must be followed by 0 or 1`);
}

// Checks one op's shape (tuples and objects alike); applying reads the op again in place.
// (JSON has no `undefined`, so an undefined field is a missing one.)
function check(i, item) {
  if (Array.isArray(item)) {
    const op = item[0];
    if (typeof op !== 'string') fail(i, 'a tuple starts with the op name');
    const n = arity(op);
    if (n === 0) fail(i, `unknown op '${op}'`);
    if (item.length - 1 !== n) fail(i, `'${op}' takes ${SHAPE[op]}, got ${item.length - 1} values`);
    if (op === 'move' || op === 'copy') {
      pointer(i, item[1], 'from');
      pointer(i, item[2], 'path');
    } else {
      pointer(i, item[1], 'path');
    }
    return;
  }
  if (!isObject(item)) fail(i, `an operation must be an object or a tuple, got ${JSON.stringify(item)}`);
  const op = item.op;
  if (op === undefined) fail(i, 'missing field `op`');
  if (typeof op !== 'string' || arity(op) === 0) fail(i, `unknown variant \`${op}\`, expected one of ${OPS}`);
  if (item.path === undefined) fail(i, 'missing field `path`');
  pointer(i, item.path, 'path');
  if (op === 'move' || op === 'copy') {
    if (item.from === undefined) fail(i, 'missing field `from`');
    pointer(i, item.from, 'from');
  } else if (op !== 'remove' && item.value === undefined) {
    fail(i, 'missing field `value`');
  }
}

// ---- applying ---------------------------------------------------------------------------------

// The value at `path`, or `undefined` if there is none (JSON has no undefined).
function at(node, path) {
  for (let i = 0; i < path.length; i++) {
    const k = path[i];
    if (Array.isArray(node)) {
      const n = index(k);
      if (n < 0 || n >= node.length) return undefined;
      node = node[n];
    } else if (isObject(node)) {
      if (!has(node, k)) return undefined;
      node = node[k];
    } else {
      return undefined;
    }
  }
  return node;
}

function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!has(b, k) || !equal(a[k], b[k])) return false;
  return true;
}

class Patcher {
  constructor(root) {
    this.root = root;
    // Containers this patch already copied: nobody has seen them yet, so later ops of the same
    // patch may change them in place. Everything else is copied on write. (A failing op throws
    // the whole patch away, copies and all.)
    // A Set: a patch of many ops over many rows would make a list search quadratic.
    this.fresh = new Set();
  }

  writable(node) {
    if (this.fresh.has(node)) return node;
    const copy = Array.isArray(node) ? node.slice() : { ...node };
    this.fresh.add(copy);
    return copy;
  }

  // A writable copy of the parent of `path` (not empty), copying every container on the way,
  // or null if one is missing.
  parent(path) {
    let node = this.root;
    if (node === null || typeof node !== 'object') return null;
    node = this.root = this.writable(node);
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i];
      const array = Array.isArray(node);
      const n = array ? index(k) : -1;
      let child;
      if (array) {
        if (n < 0 || n >= node.length) return null;
        child = node[n];
      } else {
        if (!has(node, k)) return null;
        child = node[k];
      }
      if (child === null || typeof child !== 'object') return null;
      const copy = this.writable(child);
      if (copy !== child) {
        if (array) node[n] = copy;
        else define(node, k, copy);
      }
      node = copy;
    }
    return node;
  }

  add(path, value) {
    if (path.length === 0) {
      this.root = value;
      return true;
    }
    const parent = this.parent(path);
    if (parent === null) return false;
    const k = path[path.length - 1];
    if (!Array.isArray(parent)) define(parent, k, value);
    else if (k === '-') parent.push(value);
    else {
      const n = index(k);
      if (n < 0 || n > parent.length) return false;
      if (n === parent.length) parent.push(value);
      else parent.splice(n, 0, value);
    }
    return true;
  }

  // The removed value, or undefined.
  remove(path) {
    if (path.length === 0) return undefined;
    const parent = this.parent(path);
    if (parent === null) return undefined;
    const k = path[path.length - 1];
    if (Array.isArray(parent)) {
      const n = index(k);
      if (n < 0 || n >= parent.length) return undefined;
      return n === parent.length - 1 ? parent.pop() : parent.splice(n, 1)[0];
    }
    if (!has(parent, k)) return undefined;
    const removed = parent[k];
    delete parent[k];
    return removed;
  }

  replace(path, value) {
    if (path.length === 0) {
      this.root = value;
      return true;
    }
    const parent = this.parent(path);
    if (parent === null) return false;
    const k = path[path.length - 1];
    if (Array.isArray(parent)) {
      const n = index(k);
      if (n < 0 || n >= parent.length) return false;
      parent[n] = value;
    } else {
      if (!has(parent, k)) return false;
      define(parent, k, value);
    }
    return true;
  }
}

const startsWith = (path, from) => {
  if (path.length < from.length) return false;
  for (let i = 0; i < from.length; i++) if (path[i] !== from[i]) return false;
  return true;
};

/**
 * Applies `patch` to `root` and returns the new root. `patch` is JSON text or, when `local`, an
 * ops array too (copied first: the caller's values never become part of the state).
 * Throws `{ index, message }`; `root` is never modified.
 */
export function applyPatch(root, patch, local) {
  let ops;
  if (typeof patch === 'string') {
    try {
      ops = JSON.parse(patch);
    } catch (e) {
      fail(undefined, `not JSON: ${e && e.message}`);
    }
  } else if (local) {
    ops = copyJson(patch);
  } else {
    fail(undefined, 'a patch must be JSON text');
  }
  if (!Array.isArray(ops)) fail(undefined, 'a patch must be an array of operations');
  for (let i = 0; i < ops.length; i++) check(i, ops[i]);
  const p = new Patcher(root);
  for (let i = 0; i < ops.length; i++) {
    const item = ops[i];
    const tuple = Array.isArray(item);
    const op = tuple ? item[0] : item.op;
    const two = op === 'move' || op === 'copy';
    const rawPath = tuple ? item[two ? 2 : 1] : item.path;
    const path = tokens(rawPath);
    let kind;
    switch (op) {
      case 'add':
        if (!p.add(path, tuple ? item[2] : item.value)) kind = PATH;
        break;
      case 'remove':
        if (p.remove(path) === undefined) kind = PATH;
        break;
      case 'replace':
        if (!p.replace(path, tuple ? item[2] : item.value)) kind = PATH;
        break;
      case 'test': {
        const v = at(p.root, path);
        if (v === undefined) kind = PATH;
        else if (!equal(v, tuple ? item[2] : item.value)) kind = 'value did not match';
        break;
      }
      case 'move': {
        const from = tokens(tuple ? item[1] : item.from);
        if (startsWith(path, from) && path.length !== from.length) kind = 'cannot move the value inside itself';
        else {
          const v = p.remove(from);
          if (v === undefined) kind = FROM;
          else if (!p.add(path, v)) kind = PATH;
        }
        break;
      }
      case 'copy': {
        const v = at(p.root, tokens(tuple ? item[1] : item.from));
        // A copy is a new value: later ops of this patch may change one side in place.
        if (v === undefined) kind = FROM;
        else if (!p.add(path, v !== null && typeof v === 'object' ? structuredClone(v) : v)) kind = PATH;
        break;
      }
    }
    if (kind !== undefined) fail(i, `${kind} at '${rawPath}'`);
  }
  return p.root;
}

/** JSON text of a value; a string is taken to be JSON text already. */
export function toJson(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A deep copy of a JSON value, so later changes by the caller are not seen. */
export function copyJson(value) {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

// An exception thrown by a subscriber is reported like one from a native event listener, without
// stopping the others.
function report(e) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(e);
  else setTimeout(() => { throw e; });
}

/**
 * The state and its subscribers (the Svelte store contract), so that applying a patch and
 * notifying every subscriber is one call from wasm. Subscribers are a copy-on-write list: one
 * may subscribe, unsubscribe or apply a patch while being called.
 */
export class Store {
  constructor(state) {
    this.state = state;
    this.subscribers = [];
    this.nextId = 0;
  }

  apply(patch, local) {
    this.set(applyPatch(this.state, patch, local));
  }

  // A subscriber may apply a patch while it is being called. As in Svelte's `writable`, the
  // calls that new state causes wait in a queue behind the current ones, so every subscriber
  // sees the states in order and the last call it gets is the current state.
  set(state) {
    this.state = state;
    const idle = this.queue === undefined;
    if (idle) this.queue = [];
    for (const s of this.subscribers) this.queue.push(s, state);
    if (!idle) return;
    for (let i = 0; i < this.queue.length; i += 2) {
      try {
        this.queue[i].run(this.queue[i + 1]);
      } catch (e) {
        report(e);
      }
    }
    this.queue = undefined;
  }

  subscribe(run) {
    const id = ++this.nextId;
    this.subscribers = [...this.subscribers, { id, run }];
    try {
      run(this.state);
    } catch (e) {
      report(e);
    }
    return id;
  }

  unsubscribe(id) {
    this.subscribers = this.subscribers.filter((s) => s.id !== id);
  }
}
