// Pages report back to bench/run.mjs by POST: no DevTools is attached to a page being measured.
// A page served by livesource-dev reports to the harness at `?report=<origin>` (a cross-origin
// POST of text needs no CORS preflight; its answer is not read).
const params = new URLSearchParams(location.search);
const id = params.get('run');
const harness = params.get('report') ?? '';

function post(path, body) {
  return fetch(`${harness}${path}`, { method: 'POST', mode: harness ? 'no-cors' : 'cors', body: JSON.stringify(body) });
}

export function report(result) {
  return post(`/bench/result/${id}`, { ok: true, result });
}

export function fail(message) {
  post(`/bench/result/${id}`, { ok: false, message });
  throw new Error(message);
}

/** Tells the harness that the page reached `name` (it may act on it: write a burst, cut connections). */
export function signal(name, data = {}) {
  return post(`/bench/signal/${id}/${name}`, data);
}

/** Waits for the harness to answer `name` (readable cross-origin: the harness sends CORS headers). */
export async function waitFor(name) {
  const r = await fetch(`${harness}/bench/signal/${id}/${name}`);
  if (!r.ok) fail(`waiting for ${name}: HTTP ${r.status}`);
  return r.json();
}
