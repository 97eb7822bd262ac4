// P9, tabs sharing one stream (`share: true`, issue 14), against the release livesource-dev:
//
// - connections: N tabs (1, 5, 10) of one browser profile open the same stream; the server's own
//   count of SSE responses (`/ready` → `sseClients`) once every tab is open, and whether each tab
//   then gets a test event. Baseline: the same tabs with sharing off.
// - handover gap: while events flow at a steady rate, the leader tab closes (`window.close()`);
//   in each tab that followed, the time from that close to the first event the old leader had
//   not delivered (an id above its last), on one clock (`performance.timeOrigin + now()`).
//   Against the budget of 1 s plus the backoff's first delay.
// - follower throughput: events/s in a follower against the leader, on the same burst: every
//   tab joins before the leader connects (its token function waits for the harness), then the
//   leader replays a burst from the start of the log and relays it.
//
// Tabs are pages of a plain headless Chromium (no DevTools attached) in one profile, opened by a
// launcher page with `window.open` (each its own renderer), with background throttling off.
// They poll a small server here for commands and post their answers back (bench/pages/p9.js).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const log = (line) => process.stderr.write(`P9: ${line}\n`);

/** The command server the tabs talk to: `ask(tab, cmd)` is answered by that tab. */
async function commandServer() {
  const queues = new Map(); // tab -> commands not yet fetched
  const replies = new Map(); // tab -> resolve of the pending ask
  const hellos = new Map(); // tab -> status at load
  const late = new Set(); // tabs whose close fell back to navigating away
  const launches = new Map(); // session -> URLs its launcher page opens
  const send = (res, cmd) => res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' }).end(JSON.stringify(cmd));
  const server = createServer((req, res) => {
    const m = req.url.match(/^\/p9\/([a-z-]+)\/([\w.-]+)$/);
    if (!m) return res.writeHead(404).end();
    const [, what, tab] = m;
    if (req.method === 'GET' && what === 'launch') {
      // Opens each tab by script (a script may close a window a script opened); `noopener`
      // gives each its own browsing context group, so its own renderer process.
      const urls = launches.get(tab) ?? [];
      return res.writeHead(200, { 'Content-Type': 'text/html' })
        .end(`<!doctype html><script>for (const u of ${JSON.stringify(urls)}) window.open(u, '_blank', 'noopener');</script>`);
    }
    if (req.method === 'GET' && what === 'cmd') {
      // Answered at once, `idle` when there is nothing to do: a held request would hold one of
      // the browser's 6 connections to this host, and 10 tabs would starve each other.
      const q = queues.get(tab);
      return send(res, q?.length ? q.shift() : { do: 'idle' });
    }
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const data = body ? JSON.parse(body) : {};
      if (what === 'hello') hellos.set(tab, data);
      else if (what === 'reply') { const r = replies.get(tab); replies.delete(tab); r?.(data); } else if (what === 'reply-late') late.add(tab);
      res.writeHead(204, { 'Access-Control-Allow-Origin': '*' }).end();
    });
    return undefined;
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    hellos,
    late,
    launcher(session, urls) { launches.set(session, urls); return `http://127.0.0.1:${server.address().port}/p9/launch/${session}`; },
    ask(tab, cmd, timeoutMs = 30_000) {
      return new Promise((ok, err) => {
        const timer = setTimeout(() => { replies.delete(tab); err(new Error(`tab ${tab} did not answer ${cmd.do} within ${timeoutMs} ms`)); }, timeoutMs);
        replies.set(tab, (data) => { clearTimeout(timer); ok(data); });
        if (!queues.has(tab)) queues.set(tab, []);
        queues.get(tab).push(cmd);
      });
    },
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }),
  };
}

/** A plain headless Chromium on `launcher`, a page that opens the tabs (headless Chromium takes
 * only one URL on its command line), in one fresh profile. */
function launch(chromium, launcher) {
  const profile = mkdtempSync(join(tmpdir(), 'livesource-bench-p9-'));
  const child = spawn(chromium, ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Every tab but one is in the background: none may be slowed for it.
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
    '--disable-popup-blocking',
    ...(process.env.BENCH_DEBUG ? ['--enable-logging=stderr', '--log-level=0'] : []),
    `--user-data-dir=${profile}`, launcher], { stdio: ['ignore', 'ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore'], detached: true });
  const exited = new Promise((ok) => child.once('exit', ok));
  return {
    async close() {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      await exited;
      await sleep(100);
      rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

export async function p9(dev, { quick = false, chromium = '/usr/bin/chromium' } = {}) {
  const rows = [];
  const notes = [];
  const cmd = await commandServer();
  let session = 0;
  const readyClients = async () => (await (await fetch(`${dev.origin}/ready`)).json()).sseClients;
  /** Waits (bounded) until the server holds `n` SSE responses; returns the last count read. */
  const untilClients = async (n, ms = 10_000) => {
    const deadline = Date.now() + ms;
    let c;
    while ((c = await readyClients()) !== n && Date.now() < deadline) await sleep(100);
    return c;
  };

  /** `n` tabs of p9.html; resolves once every tab said hello, or `helloMs` after the last did. */
  const openTabs = async (n, params, helloMs = 8000) => {
    session += 1;
    const tabs = Array.from({ length: n }, (_, i) => `s${session}-${i}`);
    const urls = tabs.map((tab) => `${dev.origin}/static/p9.html?${new URLSearchParams({ ...params, tab, report: cmd.origin })}`);
    const browser = launch(chromium, cmd.launcher(`s${session}`, urls));
    let seen = 0;
    let progress = Date.now();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = tabs.filter((t) => cmd.hellos.has(t)).length;
      if (now > seen) { seen = now; progress = Date.now(); }
      if (seen === n || Date.now() - progress > helloMs || Date.now() > deadline) break;
      await sleep(50);
    }
    return { tabs, loaded: tabs.filter((t) => cmd.hellos.has(t)), browser };
  };
  const statuses = (tabs) => Promise.all(tabs.map((t) => cmd.ask(t, { do: 'status' })));
  /** Until every tab is open and (sharing) exactly one leads; returns the statuses. */
  const settle = async (tabs, shared, ms = 20_000, states = ['open']) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await statuses(tabs);
      const leaders = s.filter((x) => x.sharing === 'leader').length;
      const ok = s.every((x) => states.includes(x.state)) && (!shared || (leaders === 1 && s.every((x) => ['leader', 'follower'].includes(x.sharing))));
      if (ok) return s;
      if (Date.now() > deadline) throw new Error(`P9: tabs did not settle in ${ms} ms: ${JSON.stringify(s.map((x) => [x.sharing, x.state, x.errors]))}`);
      await sleep(100);
    }
  };

  try {
    // ---- connections --------------------------------------------------------------------------
    const conn = '/bench/p9-conn';
    await dev.defineStream(conn);
    const connections = [];
    const counts = quick ? [1, 5] : [1, 5, 10];
    for (const [k, n] of counts.entries()) {
      for (const shared of k % 2 ? [false, true] : [true, false]) {
        const { tabs, loaded, browser } = await openTabs(n, { mode: 'conn', share: shared ? '1' : '0', stream: `${conn}/_streams/changes` });
        try {
          let open = [];
          if (loaded.length) {
            const s = await settle(loaded, shared).catch(() => statuses(loaded));
            open = loaded.filter((_, i) => s[i].state === 'open');
          }
          await sleep(500);
          const clients = await readyClients();
          // Does every open tab get an event through those connections?
          const before = await statuses(open);
          await dev.call('POST', conn, { name: `p9-conn-${session}` }, 201);
          const got = await Promise.all(open.map((t, i) => cmd.ask(t, { do: 'after', after: before[i].lastId, timeoutMs: 5000 })));
          const updated = got.filter((g) => g.t !== null).length;
          connections.push({ n, shared, clients, loaded: loaded.length, open: open.length, updated, visibility: before.map((s) => s.visibility) });
          log(`${n} tabs, share ${shared ? 'on' : 'off'}: ${clients} server connections, ${loaded.length} loaded, ${open.length} open, ${updated} updated (visibility ${[...new Set(before.map((s) => s.visibility))].join('/')})`);
        } finally {
          await browser.close();
        }
        const left = await untilClients(0);
        if (left !== 0) throw new Error(`P9: ${left} SSE clients still open 10 s after the browser closed`);
      }
    }
    for (const n of counts) {
      const on = connections.find((c) => c.n === n && c.shared);
      const off = connections.find((c) => c.n === n && !c.shared);
      if (on.updated !== n) throw new Error(`P9: ${n} shared tabs, but ${on.updated} got the test event (${on.open} open)`);
      const offNote = off.updated === n ? (n > 1 ? `all ${n} updated` : 'the tab updated') : `${off.updated} of ${n} tabs updated; ${n - off.open} never opened: Chromium's 6 connections per host`;
      rows.push(['P9', `server connections (livesource-dev's \`/ready\`) for ${n} tab${n > 1 ? 's' : ''} of one stream in one browser profile, \`share: true\`; ${n > 1 ? `all ${n}` : 'the tab'} got a test event`,
        fmt(on.clients), `${fmt(off.clients)} with sharing off (${offNote})`, `${(on.clients / off.clients).toFixed(2)}×`, '1 connection', on.clients === 1 ? 'met' : 'missed']);
    }

    // ---- handover gap -----------------------------------------------------------------------------
    const gapColl = '/bench/p9-gap';
    await dev.defineStream(gapColl);
    const TABS = quick ? 4 : 6;
    const ROUNDS = TABS - 1;
    const RATE = 100;
    const BACKOFF = 500;
    const budget = 1000 + BACKOFF;
    const gaps = []; // per round: { closedAt, gaps: [ms per follower] }
    {
      const { tabs, loaded, browser } = await openTabs(TABS, { mode: 'gap', share: '1', stream: `${gapColl}/_streams/changes`, backoffMs: BACKOFF });
      let stop = false;
      let writes = 0;
      let writeErr = null;
      let writer;
      try {
        if (loaded.length !== TABS) throw new Error(`P9: ${loaded.length} of ${TABS} tabs loaded`);
        await settle(tabs, true);
        // A steady flow, paced (at most 2 in flight), bounded in count and time.
        const start = performance.now();
        const maxWrites = RATE * 120;
        writer = (async () => {
          const one = async () => {
            while (!stop && writes < maxWrites) {
              const i = writes++;
              const wait = start + (i * 1000) / RATE - performance.now();
              if (wait > 1) await sleep(wait);
              await dev.call('POST', gapColl, { name: `steady ${i}`, n: i }, 201);
            }
          };
          await Promise.all([one(), one()]);
        })().catch((e) => { writeErr = e; });
        let live = tabs.slice();
        for (let round = 0; round < ROUNDS; round++) {
          await sleep(1000);
          const s = await settle(live, true);
          if (s.some((x) => x.logged === 0)) throw new Error('P9: a tab got no steady events');
          const leader = live[s.findIndex((x) => x.sharing === 'leader')];
          const closed = await cmd.ask(leader, { do: 'close' }, 10_000);
          live = live.filter((t) => t !== leader);
          const firsts = await Promise.all(live.map((t) => cmd.ask(t, { do: 'after', after: closed.lastId, timeoutMs: 15_000 }, 20_000)));
          await sleep(600); // past the page's fallback, which would mean the close was not one
          if (cmd.late.has(leader)) throw new Error('P9: window.close() did not close the leader tab');
          if (firsts.some((f) => f.t === null)) throw new Error(`P9: round ${round + 1}: a follower got no event within 15 s of the leader's close`);
          const g = firsts.map((f) => f.t - closed.closedAt);
          gaps.push(g);
          log(`handover ${round + 1}: ${g.map((x) => x.toFixed(0)).join(', ')} ms in ${live.length} tab(s)`);
        }
        await settle(live, true);
        const left = await untilClients(1, 5000);
        if (left !== 1) throw new Error(`P9: after ${ROUNDS} handovers the server holds ${left} SSE responses, not 1`);
        stop = true;
        await writer;
        if (writeErr) throw writeErr;
        const rate = writes / ((performance.now() - start) / 1000);
        const all = gaps.flat();
        const worstPerRound = gaps.map((g) => Math.max(...g));
        const med = median(all);
        const max = Math.max(...all);
        rows.push(['P9', `handover gap: ms from the leader tab's \`window.close()\` to the first event it had not delivered, in each following tab; ${TABS} tabs, ${ROUNDS} closes in turn (${all.length} follower samples), ${fmt(rate)} events/s written; median / max`,
          `${fmt(med)} / ${fmt(max)} ms`, `budget: 1 s + the backoff's first delay (${BACKOFF} ms, the default) = ${fmt(budget)} ms`,
          `${(med / budget).toFixed(2)}× / ${(max / budget).toFixed(2)}×`, `≤ ${fmt(budget)} ms`, max <= budget ? 'met' : 'missed']);
        notes.push(`P9 handover: the slowest following tab per close: ${worstPerRound.map((x) => fmt(x)).join(', ')} ms; every gap includes up to one interval between writes (${(1000 / RATE).toFixed(0)} ms).`);
      } finally {
        stop = true;
        await writer?.catch(() => {});
        await browser.close();
      }
      await untilClients(0);
    }

    // ---- follower throughput ----------------------------------------------------------------------
    const BURST = quick ? 5_000 : 20_000;
    const BURSTS = quick ? 2 : 5;
    const pad = 'x'.repeat(14);
    const per = [];
    for (let round = 0; round < BURSTS; round++) {
      const coll = `/bench/p9-burst-${round}`;
      await dev.defineStream(coll);
      await dev.insertAll(coll, Array.from({ length: BURST }, (_, i) => ({ b: round, i, name: `item ${i}`, pad })));
      const { tabs, loaded, browser } = await openTabs(2, { mode: 'burst', share: '1', stream: `${coll}/_streams/changes`, count: BURST, token: dev.token });
      try {
        if (loaded.length !== 2) throw new Error(`P9: ${loaded.length} of 2 tabs loaded`);
        // Both joined; the leader is still waiting for its token, so nothing has flowed yet.
        const s = await settle(tabs, true, 20_000, ['connecting', 'open', 'reconnecting']);
        if (s.some((x) => x.burst.n > 0)) throw new Error('P9: events arrived before the go');
        await Promise.all(tabs.map((t) => cmd.ask(t, { do: 'go' })));
        const deadline = Date.now() + 120_000;
        let done;
        for (;;) {
          done = await statuses(tabs);
          if (done.every((x) => x.burst.n >= BURST)) break;
          if (Date.now() > deadline) throw new Error(`P9: burst ${round + 1}: ${done.map((x) => x.burst.n).join('/')} of ${BURST} events after 120 s`);
          await sleep(250);
        }
        const expected = (BURST * (BURST - 1)) / 2;
        for (const x of done) {
          if (x.burst.n !== BURST || x.burst.sum !== expected || x.burst.disorder) throw new Error(`P9: burst ${round + 1}: the ${x.sharing} got ${x.burst.n} events (sum ${x.burst.sum}, ${x.burst.disorder} out of order)`);
        }
        const rate = (x) => (BURST - 1) / ((x.burst.t1 - x.burst.t0) / 1000);
        const lead = done.find((x) => x.sharing === 'leader');
        const follow = done.find((x) => x.sharing === 'follower');
        per.push({ leader: rate(lead), follower: rate(follow), lag: follow.burst.t1 - lead.burst.t1, vis: `${lead.visibility}/${follow.visibility}` });
        log(`burst ${round + 1}: leader ${fmt(rate(lead))}/s, follower ${fmt(rate(follow))}/s, follower's last event ${(follow.burst.t1 - lead.burst.t1).toFixed(0)} ms after the leader's (leader/follower ${lead.visibility}/${follow.visibility})`);
      } finally {
        await browser.close();
      }
      await untilClients(0);
    }
    const lead = median(per.map((p) => p.leader));
    const follow = median(per.map((p) => p.follower));
    rows.push(['P9', `events/s in a follower tab: a burst of ${fmt(BURST)} change events replayed by livesource-dev to 2 shared tabs, the leader relaying (median of ${BURSTS})`,
      fmt(follow), `${fmt(lead)} in the leader tab, same bursts`, `${(follow / lead).toFixed(2)}×`, '—', '—']);
    notes.push(`P9 follower throughput: per burst, leader/follower in thousands of events/s: ${per.map((p) => `${(p.leader / 1000).toFixed(0)}/${(p.follower / 1000).toFixed(0)}`).join(', ')}; ` +
      `the follower's last event came ${per.map((p) => fmt(p.lag)).join(', ')} ms after the leader's; page visibility, leader/follower: ${per.map((p) => p.vis).join(', ')} (background throttling off).`);
    return { rows, notes };
  } finally {
    await cmd.close();
  }
}
