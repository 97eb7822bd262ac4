// P1: events/s delivered to a listener, LiveSource against a raw EventSource + JSON.parse in the
// same page on the same stream. Runs alternate (raw, livesource, raw, ...) so drift in machine
// load hits both alike; the median of each is reported.
import init, { LiveSource } from '/pkg/livesource.js';
import { report, fail } from '/bench/pages/report.js';

const params = new URLSearchParams(location.search);
const count = Number(params.get('count'));
const rounds = Number(params.get('rounds'));
const stream = params.get('stream');

function raw() {
  return new Promise((done) => {
    const es = new EventSource(stream);
    let n = 0, sum = 0, start = 0;
    es.addEventListener('item', (e) => {
      if (n === 0) start = performance.now();
      sum += JSON.parse(e.data).n;
      if (++n === count) { es.close(); done({ perSec: count / ((performance.now() - start) / 1000), sum }); }
    });
  });
}

function live() {
  return new Promise((done) => {
    const src = new LiveSource(stream, { heartbeatTimeoutMs: 0 });
    let n = 0, sum = 0, start = 0;
    src.on('item', (data) => {
      if (n === 0) start = performance.now();
      sum += data.n;
      if (++n === count) { src.close(); done({ perSec: count / ((performance.now() - start) / 1000), sum }); }
    });
  });
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  await init();
  const expected = (count * (count - 1)) / 2;
  const results = { raw: [], livesource: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of [['raw', raw], ['livesource', live]]) {
      const { perSec, sum } = await run();
      if (sum !== expected) fail(`P1 ${name}: events lost or duplicated (sum ${sum}, expected ${expected})`);
      results[name].push(perSec);
    }
  }
  report({ raw: median(results.raw), livesource: median(results.livesource), rounds, all: results });
} catch (e) {
  fail(String(e?.stack ?? e));
}
