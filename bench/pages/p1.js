// P1 (and P8, with the fetch transport): events/s delivered to a listener, LiveSource against a
// raw EventSource + JSON.parse in the same page on the same stream. Runs alternate (raw, livesource, raw, ...) so drift in machine
// load hits both alike; the median of each is reported.
import init, { LiveSource } from '/pkg/livesource.js';
import { report, fail } from './report.js';

const params = new URLSearchParams(location.search);
const count = Number(params.get('count'));
const rounds = Number(params.get('rounds'));
const stream = params.get('stream');
const event = params.get('event') ?? 'item';
// Resume position for streams that replay a log (livesource-dev: `0` replays from the start).
const from = params.get('from');
const rawUrl = from === null ? stream : `${stream}${stream.includes('?') ? '&' : '?'}lastEventId=${from}`;
// P8 runs the same page with `transport=fetch`.
const transport = params.get('transport') ?? 'eventsource';
const liveOptions = { heartbeatTimeoutMs: 0, transport, ...(from === null ? {} : { lastEventId: from }) };
// The counted number: the harness's items carry `n`, livesource-dev's change events the document.
const pick = event === 'change' ? (data) => data.fullDocument.n : (data) => data.n;

function raw() {
  return new Promise((done) => {
    const es = new EventSource(rawUrl);
    let n = 0, sum = 0, start = 0;
    es.addEventListener(event, (e) => {
      if (n === 0) start = performance.now();
      sum += pick(JSON.parse(e.data));
      if (++n === count) { es.close(); done({ perSec: count / ((performance.now() - start) / 1000), sum }); }
    });
  });
}

function live() {
  return new Promise((done) => {
    const src = new LiveSource(stream, liveOptions);
    let n = 0, sum = 0, start = 0;
    src.on(event, (data) => {
      if (n === 0) start = performance.now();
      sum += pick(data);
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
