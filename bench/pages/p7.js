// P7: memory stability. One LiveSource stays open on a livesource-dev change stream (through
// the harness's proxy) for `batches` cycles: the page asks for a batch, the harness bulk-inserts
// `batch` documents (one change event each) and cuts every connection at once, and the library
// reconnects and resumes from its last id. Every event must arrive exactly once, in order.
// Wasm memory and the JS heap (after gc(); Chromium runs with --expose-gc and precise memory
// info) are read while the stream is idle: after the first cycle (the baseline) and after the
// last, with the source open both times.
import init, { LiveSource } from '/pkg/livesource.js';
import wasmInit from '/pkg/livesource_wasm.js';
import { report, fail, signal } from './report.js';

const params = new URLSearchParams(location.search);
const stream = params.get('stream');
const batches = Number(params.get('batches'));
const batch = Number(params.get('batch'));
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function memory(wasm) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(20); }
  return { wasm: wasm.memory.buffer.byteLength, heap: performance.memory.usedJSHeapSize };
}

async function until(what, test, ms = 30_000) {
  const deadline = performance.now() + ms;
  while (!test()) {
    if (performance.now() > deadline) fail(`P7: timed out waiting for ${what}`);
    await sleep(2);
  }
}

try {
  if (typeof globalThis.gc !== 'function') fail('P7 needs Chromium started with --js-flags=--expose-gc');
  await init();
  const wasm = await wasmInit(); // already loaded: returns the instance's exports
  const start = await memory(wasm);

  let n = 0, sum = 0, lastId = 0, opens = 0;
  const src = new LiveSource(stream, { heartbeatTimeoutMs: 0, backoff: { initialMs: 20, maxMs: 100 } });
  src.onState((s) => { if (s === 'open') opens++; });
  src.on('change', (data, meta) => {
    const id = Number(meta.id);
    if (id <= lastId) fail(`P7: event ${id} after ${lastId} (duplicate or out of order)`);
    lastId = id;
    if (data.fullDocument.n !== n) fail(`P7: document ${data.fullDocument.n} arrived as event ${n}`);
    sum += data.fullDocument.n;
    n++;
  });
  await until('the first connection', () => opens === 1);

  // Readings after cycle 1 (the baseline), at each quarter, and after the last (the end).
  const readings = {};
  for (let k = 1; k <= batches; k++) {
    await signal('batch', { k });
    await until(`batch ${k}`, () => n === k * batch && opens === k + 1);
    if (k === 1 || k % Math.max(1, Math.floor(batches / 4)) === 0 || k === batches) readings[k] = await memory(wasm);
  }
  const baseline = readings[1];
  const end = readings[batches];
  src.close();
  const total = batches * batch;
  if (n !== total) fail(`P7: ${n} events, expected ${total}`);
  if (sum !== (total * (total - 1)) / 2) fail(`P7: events lost or duplicated (sum ${sum})`);
  report({ start, baseline, end, readings, events: n, reconnects: opens - 1 });
} catch (e) {
  fail(String(e?.stack ?? e));
}
