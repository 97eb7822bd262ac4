// Pages report back to bench/run.mjs by POST: no DevTools is attached to a page being measured.
const id = new URLSearchParams(location.search).get('run');

export function report(result) {
  return fetch(`/bench/result/${id}`, { method: 'POST', body: JSON.stringify({ ok: true, result }) });
}

export function fail(message) {
  fetch(`/bench/result/${id}`, { method: 'POST', body: JSON.stringify({ ok: false, message }) });
  throw new Error(message);
}
