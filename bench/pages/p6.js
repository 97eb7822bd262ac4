// P6: end-to-end latency, an HTTP write made by this page -> the DOM updated, measured inside the
// page: performance.now() before the POST, and in the MutationObserver callback that sees the
// change. Four modes, interleaved in rounds so machine drift hits all alike:
//   patch-raw   raw EventSource on a patch topic, JSON.parse, the op applied to the DOM by hand;
//   patch-live  LiveSource.patches on the same topic, a subscriber rendering the state;
//   frag-raw    raw EventSource on a change stream, then one fetch of the fragment, swapped in;
//   frag-live   LiveSource.refresh on the same stream and fragment.
import init, { LiveSource } from '/pkg/livesource.js';
import { report, fail } from './report.js';

const params = new URLSearchParams(location.search);
const token = params.get('token');
const rounds = Number(params.get('rounds'));
const perRound = Number(params.get('samples'));
const warmup = 3;
const topic = params.get('topic');
const topicStream = `/bench/__events?topic=${encodeURIComponent(topic)}`;
const coll = params.get('coll'); // e.g. /bench/p6: the fragment URL, with `/_streams/changes`
const stream = `${coll}/_streams/changes`;

const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const counter = document.getElementById('counter');
let k = 0;

/** Resolves with the time at which `done()` first holds after a DOM mutation. */
function observe(root, done) {
  return new Promise((ok, err) => {
    const mo = new MutationObserver(() => {
      if (done()) { const t = performance.now(); mo.disconnect(); clearTimeout(timer); ok(t); }
    });
    const timer = setTimeout(() => { mo.disconnect(); err(new Error('the DOM was not updated within 5 s')); }, 5000);
    mo.observe(root, { childList: true, subtree: true, characterData: true });
  });
}

function opened(subscribe) {
  return new Promise((ok, err) => {
    setTimeout(() => err(new Error('the stream did not open within 10 s')), 10_000);
    subscribe(ok);
  });
}

const modes = {
  'patch-raw': async () => {
    const es = new EventSource(topicStream);
    es.addEventListener('patch', (e) => {
      for (const [op, path, value] of JSON.parse(e.data)) {
        if (op === 'replace' && path === '/counter') counter.textContent = value;
      }
    });
    await opened((ok) => es.addEventListener('open', ok, { once: true }));
    return { close: () => es.close(), sample: patchSample };
  },
  'patch-live': async () => {
    const src = new LiveSource(topicStream);
    const store = src.patches('patch', { initial: { counter: Number(counter.textContent) } });
    store.subscribe((state) => { counter.textContent = state.counter; });
    await opened((ok) => src.onState((s) => { if (s === 'open') ok(); }));
    return { close: () => src.close(), sample: patchSample };
  },
  'frag-raw': async () => {
    const es = new EventSource(stream);
    es.addEventListener('change', async () => {
      const html = await (await fetch(coll, { headers: { 'HX-Request': 'true' } })).text();
      document.getElementById('product-list').outerHTML = html;
    });
    await opened((ok) => es.addEventListener('open', ok, { once: true }));
    return { close: () => es.close(), sample: fragmentSample };
  },
  'frag-live': async () => {
    const src = new LiveSource(stream);
    src.refresh('change', { url: coll, target: '#product-list', swap: 'outerHTML' });
    await opened((ok) => src.onState((s) => { if (s === 'open') ok(); }));
    return { close: () => src.close(), sample: fragmentSample };
  },
};

async function patchSample() {
  const value = ++k;
  const seen = observe(counter, () => counter.textContent === String(value));
  const t0 = performance.now();
  const write = fetch(`/_publish/${encodeURIComponent(topic)}`, { method: 'POST', headers, body: JSON.stringify([['replace', '/counter', value]]) });
  const t1 = await seen;
  const r = await write;
  if (!r.ok) fail(`publish: HTTP ${r.status}`);
  return t1 - t0;
}

async function fragmentSample() {
  const id = `p6-${++k}-${Math.random().toString(36).slice(2, 8)}`;
  const table = document.getElementById('list');
  const seen = observe(table, () => table.querySelector(`tr[data-id="${id}"]`) !== null);
  const t0 = performance.now();
  const write = fetch(coll, { method: 'POST', headers, body: JSON.stringify({ _id: id, name: `row ${k}`, price: k }) });
  const t1 = await seen;
  const r = await write;
  if (r.status !== 201) fail(`insert: HTTP ${r.status}`);
  return t1 - t0;
}

const quantile = (xs, q) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

try {
  await init();
  document.getElementById('list').innerHTML = await (await fetch(coll, { headers: { 'HX-Request': 'true' } })).text();
  // The publish topic starts with {"counter": -1} on the page; the server keeps no state.
  const samples = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  const rounds50 = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, start] of Object.entries(modes)) {
      const mode = await start();
      const round = [];
      for (let i = 0; i < warmup + perRound; i++) {
        const ms = await mode.sample();
        if (i >= warmup) round.push(ms);
        await sleep(2);
      }
      samples[name].push(...round);
      rounds50[name].push(quantile(round, 0.5));
      mode.close();
      await sleep(20);
    }
  }
  const result = {};
  for (const [name, xs] of Object.entries(samples)) {
    result[name] = { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), n: xs.length, rounds: rounds50[name] };
  }
  report(result);
} catch (e) {
  fail(String(e?.stack ?? e));
}
