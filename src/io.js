// The browser calls behind the probe, the fetch transport, fragment refresh and the per-event
// listener, in plain JS: each is one call from Rust instead of a dozen web-sys bindings and an
// async state machine per step. No policy lives here: Rust decides what to ask and what the
// answers mean.

const failure = (e) => String((e && e.message) || e);

// `{ id, event }` for a listener: one boundary crossing instead of an object plus two sets.
export function meta(id, event) {
  return { id, event };
}

// One GET of the stream URL to learn why an EventSource failed: the status line, two headers
// and, for a live event stream, the first chunk of the body (or '' after `waitMs`). Rejects
// with a message when there is no HTTP answer.
export async function probe(url, withCredentials, waitMs) {
  const abort = new AbortController();
  try {
    const r = await fetch(url, {
      signal: abort.signal,
      credentials: withCredentials ? 'include' : 'same-origin',
      headers: { Accept: 'text/event-stream' },
    });
    const contentType = r.headers.get('Content-Type') || '';
    const out = { status: r.status, contentType, retryAfter: r.headers.get('Retry-After'), first: undefined };
    const stream = contentType.split(';')[0].trim().toLowerCase() === 'text/event-stream';
    if (r.status === 200 && stream && r.body) {
      const timer = setTimeout(() => abort.abort(), waitMs);
      try {
        const { value } = await r.body.getReader().read();
        if (value) out.first = new TextDecoder().decode(value);
      } catch {
        // Nothing arrived in time.
      }
      clearTimeout(timer);
    }
    return out;
  } catch (e) {
    throw failure(e);
  } finally {
    abort.abort();
  }
}

// The fetch transport's request: `head(status, contentType, retryAfter)` says whether to read
// the body; each chunk of it goes to `chunk(bytes)` until that returns false or the body ends.
// Resolves when done; rejects with the reason when the request or a read fails. Aborting stops
// it between any two steps: nothing is called after that.
export async function fetchStream(url, headers, withCredentials, abort, head, chunk) {
  const r = await fetch(url, {
    signal: abort.signal,
    headers,
    credentials: withCredentials ? 'include' : 'same-origin',
    cache: 'no-store',
  });
  if (abort.signal.aborted) return;
  if (!head(r.status, r.headers.get('Content-Type') || '', r.headers.get('Retry-After')) || !r.body) {
    abort.signal.aborted || r.body?.cancel().catch(() => {});
    return;
  }
  const reader = r.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || abort.signal.aborted || !chunk(value)) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// A fragment GET with `HX-Request: true`. Resolves to the HTML; rejects with
// `[status, Retry-After header or null]` for an error answer, or a message when the request
// failed or took over 30 s (a request that never ends would hold up every later refresh).
export async function fetchFragment(url, abort) {
  const timer = setTimeout(() => abort.abort('no answer in 30 s'), 30000);
  let r;
  try {
    r = await fetch(url, {
      signal: abort.signal,
      credentials: 'same-origin',
      headers: { 'HX-Request': 'true', Accept: 'text/html' },
    });
    if (!r.ok) throw [r.status, r.headers.get('Retry-After')];
    return await r.text();
  } catch (e) {
    throw Array.isArray(e) ? e : failure(e);
  } finally {
    clearTimeout(timer);
  }
}

// Swaps `html` into `target` (`mode` as htmx names it). Returns the element now in the target's
// place for outerHTML (null if the fragment had none), else the target; lets htmx, when on the
// page, wire `hx-*` attributes in the new content.
export function swap(target, html, mode) {
  const template = document.createElement('template');
  template.innerHTML = html;
  const content = template.content;
  const inserted = Array.from(content.children);
  if (mode === 'outerHTML') target.replaceWith(content);
  else if (mode === 'innerHTML') target.replaceChildren(content);
  else if (mode === 'beforeend') target.append(content);
  else if (mode === 'afterbegin') target.prepend(content);
  const htmx = globalThis.htmx;
  if (htmx && typeof htmx.process === 'function') {
    for (const el of mode === 'innerHTML' ? [target] : inserted) {
      try { htmx.process(el); } catch { /* htmx's own problem */ }
    }
  }
  return mode === 'outerHTML' ? inserted[0] || null : target;
}

// The listener behind each event name of a source (see connection.rs).
export function listen(es, name, received, decodeFailed) {
  let fns = null;
  const listener = (e) => {
    const id = e.lastEventId;
    // A canonical decimal id crosses as a number: no string copy into wasm (see resume::decimal).
    const n = decimal(id);
    if (!(n >= 0 ? received(e, n, undefined) : received(e, -1, id))) return;
    // A snapshot: listeners may come and go while these are called.
    const list = fns;
    if (list === null) return;
    let value;
    try { value = JSON.parse(e.data); } catch (err) { decodeFailed(id, failure(err)); return; }
    const meta = { id, event: name };
    for (let i = 0; i < list.length; i++) {
      try { list[i](value, meta); } catch (x) { report(x); }
    }
  };
  listener.setFns = (f) => { fns = f === undefined ? null : f; };
  es.addEventListener(name, listener);
  return listener;
}
// A canonical decimal (`0`, or digits without a leading zero, at most 15) as a number, else
// -1: event ids here, array index tokens in `patch/engine.js`.
export function decimal(id) {
  const n = id.length;
  if (n === 0 || n > 15 || (n > 1 && id.charCodeAt(0) === 48)) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}
export function setFns(listener, fns) { listener.setFns(fns); }
export function unlisten(es, name, listener) { es.removeEventListener(name, listener); }
// Reports an exception thrown by a user callback like a native event listener does, without
// interrupting delivery to the other listeners.
export function report(e) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(e);
  else setTimeout(() => { throw e; });
}

// Sharing one stream between tabs (see share.rs). Why this page cannot share, or undefined.
export function shareUnsupported() {
  if (typeof BroadcastChannel !== 'function') return 'BroadcastChannel is missing';
  if (!(globalThis.navigator && navigator.locks && typeof navigator.locks.request === 'function')) {
    return globalThis.isSecureContext === false
      ? 'the Web Locks API needs a secure context: https:, or http://localhost or 127.0.0.1'
      : 'the Web Locks API is missing';
  }
  return undefined;
}
// Joins a stream's channel and queues for its lock: `onLead()` when this tab holds it, which it
// does until `shareLeave`, or `onLost()` if another tab stole it (`shareSteal`, from a tab that
// found this one frozen). Messages this tab posts do not come back to it.
export function shareJoin(name, onMessage, onLead, onLost) {
  const link = { name, channel: new BroadcastChannel(name), abort: null, left: false, release: null, onLead, onLost };
  link.channel.onmessage = (e) => { if (!link.left && typeof e.data === 'string') onMessage(e.data); };
  queueForLock(link, false);
  return link;
}
function queueForLock(link, steal) {
  const abort = new AbortController();
  let held = false;
  link.abort = abort;
  const done = new Promise((ok) => { link.release = ok; });
  navigator.locks.request(link.name, steal ? { steal: true } : { signal: abort.signal }, () => {
    if (link.left || link.abort !== abort) return undefined;
    held = true;
    link.onLead();
    return done;
  }).catch(() => {
    // Withdrawn before it was granted, or stolen while held.
    if (held && !link.left && link.abort === abort) {
      link.onLost();
      queueForLock(link, false);
    }
  });
}
// Takes the lock from a leader that stopped relaying; this tab's own place in the queue is
// withdrawn first, so the lock never comes to it twice.
export function shareSteal(link) {
  if (link.left) return;
  link.abort.abort();
  link.release();
  queueForLock(link, true);
}
export function sharePost(link, message) {
  if (!link.left) link.channel.postMessage(message);
}
export function shareLeave(link) {
  if (link.left) return;
  link.left = true;
  link.abort.abort();
  link.release();
  link.channel.onmessage = null;
  link.channel.close();
}
