// The browser calls behind the probe and fragment refresh, in plain JS: each is one call from
// Rust instead of a dozen web-sys bindings and an async state machine per step. No policy lives
// here: Rust decides what to ask and what the answers mean.

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

// A fragment GET with `HX-Request: true`. Resolves to the HTML; rejects with the status (a
// number) for an error answer, or a message when the request failed.
export async function fetchFragment(url, abort) {
  let r;
  try {
    r = await fetch(url, {
      signal: abort.signal,
      credentials: 'same-origin',
      headers: { 'HX-Request': 'true', Accept: 'text/html' },
    });
  } catch (e) {
    throw failure(e);
  }
  if (!r.ok) throw r.status;
  try {
    return await r.text();
  } catch (e) {
    throw failure(e);
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
