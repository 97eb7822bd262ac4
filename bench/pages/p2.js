// P2: 4-op patches per second, including handing the new state to a subscriber, for livesource
// (atomic) against fast-json-patch 3.1.1 in place (not atomic) and in its atomic copy mode.
import init, { LiveSource } from '/pkg/livesource.js';
import { applyPatch } from '/npm/fast-json-patch/index.mjs';
import { report, fail } from './report.js';

const params = new URLSearchParams(location.search);
const seconds = Number(params.get('seconds') ?? '1');

const makeDoc = (n) => ({ counter: 0, rows: Array.from({ length: n }, (_, i) => ({ id: i, name: `row ${i}`, price: i })) });
// Each patch replaces a field, appends a row, removes the first row and sets the counter, so the
// document keeps its size however many patches run.
const makePatches = (n, count) => Array.from({ length: count }, (_, k) => JSON.stringify([
  { op: 'replace', path: `/rows/${k % (n - 1)}/name`, value: `name ${k}` },
  { op: 'add', path: '/rows/-', value: { id: n + k, name: `new ${k}`, price: k } },
  { op: 'remove', path: '/rows/0' },
  { op: 'replace', path: '/counter', value: k },
]));

function measure(patches, applyOne) {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) applyOne(patches[(done + i) % patches.length]);
    done += 64;
  }
  return done / ((performance.now() - start) / 1000);
}

try {
  await init();
  const src = new LiveSource('/bench/idle', { heartbeatTimeoutMs: 0 });
  const results = {};
  for (const n of [100, 10000]) {
    const patches = makePatches(n, 4096);
    // Correctness first: the same 300 patches give the same state in every mode.
    const a = makeDoc(n);
    patches.slice(0, 300).forEach((p) => applyPatch(a, JSON.parse(p), false, true));
    const check = src.patches('check', { initial: makeDoc(n) });
    patches.slice(0, 300).forEach((p) => check.apply(p));
    if (JSON.stringify(check.get()) !== JSON.stringify(a)) fail(`P2 n=${n}: livesource and fast-json-patch disagree`);
    check.free();

    let seen;
    const subscriber = (s) => { seen = s; };
    let doc = makeDoc(n);
    const inPlace = measure(patches, (p) => { applyPatch(doc, JSON.parse(p), false, true); subscriber(doc); });
    doc = makeDoc(n);
    const copy = measure(patches, (p) => { doc = applyPatch(doc, JSON.parse(p), false, false).newDocument; subscriber(doc); });
    const store = src.patches('patch', { initial: makeDoc(n) });
    store.subscribe(subscriber);
    const live = measure(patches, (p) => store.apply(p));
    if (seen !== store.get()) fail('P2: the subscriber did not see the latest state');
    store.free();
    results[n] = { livesource: live, inPlace, atomicCopy: copy };
  }
  src.close();
  report(results);
} catch (e) {
  fail(String(e?.stack ?? e));
}
