// P9: one tab of several sharing one stream (`share: true`), driven by bench/share.mjs. No
// DevTools is attached: the tab polls the harness for commands (`GET /p9/cmd/<tab>` every 50 ms,
// answered at once) and posts each answer back (`POST /p9/reply/<tab>`).
//
// Every time is `performance.timeOrigin + performance.now()`: the same wall clock in every tab
// of the browser, so a close in one tab and an arrival in another can be subtracted.
//
// Modes: `conn` and `gap` open the stream from now; `burst` opens it from the start of the log
// (`lastEventId: '0'`) with a token function that waits for the harness's `go`, so the leader
// connects only once every tab has joined and all of them see the same burst from its first event.
import init, { LiveSource } from '/pkg/livesource.js';

const params = new URLSearchParams(location.search);
const harness = params.get('report');
const tab = params.get('tab');
const stream = params.get('stream');
const share = params.get('share') === '1';
const mode = params.get('mode');
const now = () => performance.timeOrigin + performance.now();

const post = (path, body, keepalive = false) => fetch(`${harness}/p9/${path}/${tab}`,
  { method: 'POST', mode: 'no-cors', keepalive, body: JSON.stringify(body) });

// Steady events (conn, gap): id and arrival time of each, bounded.
const LOG = 200_000;
const ids = new Float64Array(LOG);
const times = new Float64Array(LOG);
let logged = 0;
let waiter = null; // { after, resolve }: the first event with an id above `after`

// Burst events (burst): first and last arrival, count, sum of `i`, ids in order.
const burst = { n: 0, t0: 0, t1: 0, sum: 0, lastId: 0, disorder: 0, count: Number(params.get('count') ?? 0) };

let go;
const goes = new Promise((ok) => { go = ok; });
const errors = [];

let src;
try {
  await init();
  const options = { share, backoff: { initialMs: Number(params.get('backoffMs') ?? 500) } };
  if (mode === 'burst') {
    options.lastEventId = '0';
    const token = params.get('token');
    options.token = async () => { await goes; return token; };
  }
  src = new LiveSource(stream, options);
  src.onError((e) => { if (errors.length < 10) errors.push(`${e.kind}: ${e.message}`); });
  src.on('change', (data, meta) => {
    const doc = data.fullDocument;
    const id = Number(meta.id);
    if (doc?.b !== undefined) {
      const t = now();
      if (burst.n === 0) burst.t0 = t;
      if (id <= burst.lastId) burst.disorder++;
      burst.lastId = id;
      burst.sum += doc.i;
      if (++burst.n === burst.count) burst.t1 = t;
      return;
    }
    const t = now();
    if (logged < LOG) { ids[logged] = id; times[logged] = t; logged++; }
    if (waiter && id > waiter.after) { waiter.resolve({ id, t }); waiter = null; }
  });
} catch (e) {
  errors.push(String(e?.stack ?? e));
}

const status = () => ({
  sharing: src?.sharing ?? 'none', state: src?.state ?? 'none', visibility: document.visibilityState,
  logged, lastId: logged ? ids[logged - 1] : 0, burst, errors,
});

/** The first logged event with an id above `after`, now or within `timeoutMs`. */
function firstAfter(after, timeoutMs) {
  for (let k = 0; k < logged; k++) if (ids[k] > after) return Promise.resolve({ id: ids[k], t: times[k] });
  return new Promise((ok) => {
    const timer = setTimeout(() => { waiter = null; ok({ id: null, t: null }); }, timeoutMs);
    waiter = { after, resolve: (r) => { clearTimeout(timer); ok(r); } };
  });
}

async function run(cmd) {
  switch (cmd.do) {
    case 'status': return status();
    case 'go': go(); return {};
    case 'after': return firstAfter(cmd.after, cmd.timeoutMs);
    case 'close': {
      // The close is this instant; the answer goes out with keepalive, as the page leaves.
      const closedAt = now();
      const lastId = logged ? ids[logged - 1] : 0;
      post('reply', { closedAt, lastId, sharing: src?.sharing }, true);
      window.close();
      // A page the browser will not let a script close navigates away instead (also a departure
      // that hands over), and says so: the harness then fails rather than report a later close.
      setTimeout(() => { post('reply-late', { fallback: true }, true); location.replace('about:blank'); }, 500);
      return undefined;
    }
    default: return { error: `unknown command ${JSON.stringify(cmd)}` };
  }
}

post('hello', status());
// Commands until the harness closes the browser (bounded: about 80 minutes of polling).
for (let k = 0; k < 100_000; k++) {
  let cmd;
  try {
    const r = await fetch(`${harness}/p9/cmd/${tab}`);
    cmd = await r.json();
  } catch {
    await new Promise((ok) => setTimeout(ok, 200));
    continue;
  }
  if (cmd.do === 'idle') { await new Promise((ok) => setTimeout(ok, 50)); continue; }
  const answer = await run(cmd);
  if (answer !== undefined) await post('reply', answer);
}
