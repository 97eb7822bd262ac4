// P3: fragment refresh under a burst of change events. One variant per page load:
//   live  - LiveSource.refresh (coalesced: one request in flight plus one trailing);
//   fetch - Facet's example pattern with plain fetch: one fetch + outerHTML swap per event;
//   htmx  - Facet's example pattern as written: one htmx.ajax per event.
// The page signals `ready` once connected (the harness then writes the burst), waits until the
// refreshes settle, compares its list with the server's fragment and reports. The harness counts
// the fragment requests in the server's own request log.
import init, { LiveSource } from '/pkg/livesource.js';
import { report, fail, signal } from './report.js';

const params = new URLSearchParams(location.search);
const variant = params.get('variant');
const url = params.get('url'); // the fragment (GET with HX-Request: true)
const stream = params.get('stream');
const expected = Number(params.get('events'));
const fetchSamples = Number(params.get('fetchSamples') ?? '30');

const getFragment = async () => {
  const r = await fetch(url, { headers: { 'HX-Request': 'true' } });
  if (!r.ok) fail(`GET ${url}: HTTP ${r.status}`);
  return r.text();
};
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const list = () => document.getElementById('product-list');
// htmx leaves `class=""` behind on swapped elements once its transient classes are removed.
const html = (el) => {
  const copy = el.cloneNode(true);
  for (const e of [copy, ...copy.querySelectorAll('[class=""]')]) if (e.getAttribute('class') === '') e.removeAttribute('class');
  return copy.outerHTML;
};

let events = 0;
let lastEventAt = 0;
let swaps = 0;
let lastSwapAt = 0;
let inFlight = 0;
const swapped = () => { swaps++; lastSwapAt = performance.now(); };
const counted = () => { events++; lastEventAt = performance.now(); };

function whenOpen(subscribe) {
  return new Promise((ok, err) => {
    setTimeout(() => err(new Error('the stream did not open within 10 s')), 10_000);
    subscribe(ok);
  });
}

async function connect() {
  if (variant === 'live') {
    const src = new LiveSource(stream);
    src.on('change', counted);
    src.refresh('change', { url, target: '#product-list', swap: 'outerHTML', onSwap: swapped });
    src.onError((e) => console.warn(e.kind, e.message));
    await whenOpen((ok) => src.onState((s) => { if (s === 'open') ok(); }));
    return () => src.close();
  }
  const es = new EventSource(stream);
  if (variant === 'fetch') {
    es.addEventListener('change', () => {
      counted();
      inFlight++;
      fetch(url, { headers: { 'HX-Request': 'true' } })
        .then((r) => r.text())
        .then((html) => { list().outerHTML = html; swapped(); })
        .finally(() => { inFlight--; });
    });
  } else if (variant === 'htmx') {
    document.body.addEventListener('htmx:beforeRequest', () => { inFlight++; });
    document.body.addEventListener('htmx:afterRequest', () => { inFlight--; });
    document.body.addEventListener('htmx:afterSwap', swapped);
    es.addEventListener('change', () => {
      counted();
      htmx.ajax('GET', url, { target: '#product-list', swap: 'outerHTML' });
    });
  } else {
    fail(`unknown variant ${variant}`);
  }
  await whenOpen((ok) => es.addEventListener('open', ok, { once: true }));
  return () => es.close();
}

try {
  if (variant === 'live') await init();
  if (variant === 'htmx') {
    await new Promise((ok, err) => {
      const s = document.createElement('script');
      s.src = './htmx.min.js';
      s.onload = ok;
      s.onerror = () => err(new Error('htmx did not load'));
      document.head.append(s);
    });
  }
  document.getElementById('list').innerHTML = await getFragment();
  // One fetch time, on the quiet page, with the fragment as large as during the burst.
  const times = [];
  for (let i = 0; i < fetchSamples; i++) {
    const t0 = performance.now();
    await getFragment();
    times.push(performance.now() - t0);
  }
  const close = await connect();
  await signal('ready', { fetchMs: median(times) });

  // Settled: every event of the burst arrived, nothing in flight, and no swap for 500 ms.
  const deadline = performance.now() + 60_000;
  for (;;) {
    await sleep(50);
    const now = performance.now();
    if (events >= expected && inFlight === 0 && now - lastSwapAt > 500 && now - lastEventAt > 500) break;
    if (now > deadline) fail(`P3 ${variant}: not settled after 60 s (${events}/${expected} events, ${swaps} swaps, ${inFlight} in flight)`);
  }
  close();
  if (events !== expected) fail(`P3 ${variant}: ${events} change events, expected ${expected}`);
  // The server's fragment now, parsed the same way as the page's list, compared as HTML.
  const template = document.createElement('template');
  template.innerHTML = await getFragment();
  const server = template.content.querySelector('#product-list');
  const equal = server !== null && list() !== null && html(server) === html(list());
  const newest = (el) => el?.querySelector('tr')?.dataset.id ?? null;
  report({ variant, events, swaps, fetchMs: median(times), domEqual: equal, rows: list()?.rows.length ?? 0,
    newestShown: newest(list()), newestOnServer: newest(server) });
} catch (e) {
  fail(String(e?.stack ?? e));
}
