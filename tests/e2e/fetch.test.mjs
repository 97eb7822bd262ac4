// The fetch transport against a real livesource-dev, in each engine: the status read from the
// response itself (one request per attempt, no probe), tokens and headers asked for before every
// connect, resume by the Last-Event-ID header through cut connections, `close()` winning over a
// pending reconnect, and the bound on one event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, launch, editorToken } from './support.mjs';
import { FaultProxy } from './fault-proxy.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const unique = (what) => `${what}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const hits = async (key) => (await (await fetch(`${server}/_test/hits/${key}`)).json()).hits;

// A page with the library loaded and `window.run(url, options)` starting a fetch-mode source that
// records what it reports.
async function page(origin = server) {
  const p = await browser.newPage();
  await p.goto(`${origin}/health`);
  await p.evaluate(async () => {
    const m = await import('/pkg/livesource.js');
    await m.default();
    window.run = (url, options = {}, events = ['hello']) => {
      const rec = { events: [], states: [], errors: [], tokens: 0, headers: 0 };
      const src = new m.LiveSource(url, { transport: 'fetch', ...options });
      for (const name of events) src.on(name, (data, meta) => rec.events.push([name, meta.id, data]));
      src.onState((s) => rec.states.push(s));
      src.onError((e) => rec.errors.push({ kind: e.kind, status: e.status ?? null, message: e.message }));
      window.src = src;
      window.rec = rec;
    };
  });
  return p;
}

const until = (p, fn, arg, what, timeout = 10_000) => p.waitForFunction(fn, arg, { timeout, what });

test('403, 404 and 410 stop after one request, with the status; 204 stops quietly', async () => {
  const p = await page();
  for (const status of [403, 404, 410, 204]) {
    const key = unique(`stop-${status}`);
    await p.evaluate(([url]) => window.run(url), [`/_test/flaky/${key}?fail=100&status=${status}`]);
    await until(p, () => window.src.state === 'closed', null, `closed after ${status}`);
    const rec = await p.evaluate(() => window.rec);
    if (status === 204) assert.deepEqual(rec.errors, [], '204: nothing to report');
    else assert.deepEqual(rec.errors.map((e) => [e.kind, e.status]), [['http', status]]);
    assert.equal((await hits(key)).length, 1, `${status}: one request, no probe`);
  }
  await p.close();
});

test('503 with Retry-After waits as long as it says, then connects', async () => {
  const p = await page();
  const key = unique('retry-after');
  await p.evaluate(([url]) => window.run(url, { backoff: { initialMs: 10, maxMs: 20 } }),
    [`/_test/flaky/${key}?fail=1&status=503&retryAfter=1`]);
  await until(p, () => window.rec.events.length === 1, null, 'the hello after the 503');
  const rec = await p.evaluate(() => window.rec);
  assert.deepEqual(rec.events.map(([name, id]) => [name, id]), [['hello', '2']]);
  assert.deepEqual(rec.errors.map((e) => [e.kind, e.status]), [['http', 503]]);
  const [first, second] = await hits(key);
  assert.ok(second - first >= 1000, `waited ${second - first} ms for Retry-After: 1`);
  await p.evaluate(() => window.src.close());
  await p.close();
});

test('a response that is not an event stream stops with a typed error naming its type', async () => {
  const p = await page();
  await p.evaluate(() => window.run('/health'));
  await until(p, () => window.src.state === 'closed', null, 'closed');
  const rec = await p.evaluate(() => window.rec);
  assert.equal(rec.errors.length, 1);
  assert.equal(rec.errors[0].kind, 'http');
  assert.match(rec.errors[0].message, /content type 'application\/json', not text\/event-stream/);
  await p.close();
});

test('the token goes in Authorization; a 401 gets one fresh token, then the stream opens', async () => {
  const p = await page();
  const expired = await (await fetch(`${server}/_test/token?role=viewer&ttl_secs=-60`)).text();
  const valid = await (await fetch(`${server}/_test/token?role=viewer`)).text();
  await p.evaluate(([expired, valid]) => {
    let calls = 0;
    window.run('/api/events', {
      token: () => { window.rec.tokens = ++calls; return calls === 1 ? expired : valid; },
    }, ['server.state']);
  }, [expired, valid]);
  await until(p, () => window.rec.events.length > 0, null, 'server.state from /api/events');
  const rec = await p.evaluate(() => window.rec);
  assert.equal(rec.tokens, 2, 'the token function ran for the refused and the accepted connect');
  assert.deepEqual(rec.errors, [], 'a 401 cured by a fresh token is not an error');
  assert.deepEqual(rec.events[0][2], { mode: 'normal' });
  await p.evaluate(() => window.src.close());
  await p.close();
});

test('close() during a pending reconnect wins: no request after it', async () => {
  const p = await page();
  const [key, control] = [unique('closing'), unique('control')];
  const failing = (k) => `/_test/flaky/${k}?fail=100000&status=500`;
  await p.evaluate(([url]) => window.run(url, { backoff: { initialMs: 30, maxMs: 60, jitter: false } }), [failing(key)]);
  await until(p, async (k) => (await (await fetch(`/_test/hits/${k}`)).json()).hits.length >= 3, key, 'three attempts');
  const closedAt = await p.evaluate(() => { window.src.close(); return Date.now(); });
  const before = (await hits(key)).length;
  // A control source with the same backoff: once it has made five attempts, the closed one would
  // have retried several times over had its timer survived.
  await p.evaluate(([url]) => window.run(url, { backoff: { initialMs: 30, maxMs: 60, jitter: false } }), [failing(control)]);
  await until(p, async (k) => (await (await fetch(`/_test/hits/${k}`)).json()).hits.length >= 5, control, 'control attempts');
  await p.evaluate(() => window.src.close());
  const after = await hits(key);
  assert.equal(after.length, before, `requests at ${after.slice(-3)}, after close() at ${closedAt}`);
  await p.close();
});

test('headers are asked for before every connect, and resume through cut connections is lossless by the Last-Event-ID header', async () => {
  const proxy = new FaultProxy(Number(new URL(server).port));
  const proxied = `http://127.0.0.1:${await proxy.listen()}`;
  const p = await page(proxied);
  try {
    const batch = unique('fetch-cuts');
    await p.evaluate(() => {
      let calls = 0;
      window.run('/shop/products/_streams/changes', {
        backoff: { initialMs: 20, maxMs: 50 },
        headers: () => { window.rec.headers = ++calls; return { 'X-Trace': `call-${calls}` }; },
      }, ['change']);
    });
    await until(p, () => window.src.state === 'open', null, 'open');
    const token = editorToken();
    const WRITES = 120;
    for (let i = 0; i < WRITES; i++) {
      const res = await fetch(`${server}/shop/products`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: `${batch}-${i}` }),
      });
      assert.equal(res.status, 201);
      if (i % 20 === 10) {
        // Cut the stream while it is open: the writes that follow happen while it is down. The
        // next cut waits until this one is noticed: the writes can outrun the browser's notice,
        // and a state still 'open' from before the cut has no stream left to cut.
        await until(p, () => window.src.state === 'open', null, 'open again before the next cut');
        const drops = await p.evaluate(() => window.rec.states.filter((st) => st === 'reconnecting').length);
        assert.ok(proxy.cut(), 'an open stream to cut');
        await until(p, (n) => window.rec.states.filter((st) => st === 'reconnecting').length > n, drops, 'the cut noticed');
      }
    }
    await until(p, ([prefix, n]) => window.rec.events.filter(([, , d]) => d.fullDocument?.name?.startsWith(prefix)).length >= n,
      [`${batch}-`, WRITES], `${WRITES} changes`, 30_000);
    const rec = await p.evaluate(() => window.rec);
    const names = rec.events.map(([, , d]) => d.fullDocument?.name).filter((n) => n?.startsWith(`${batch}-`));
    assert.deepEqual(names, Array.from({ length: WRITES }, (_, i) => `${batch}-${i}`), 'every change once, in order');
    assert.ok(proxy.counts.cuts >= 6, `cuts: ${proxy.counts.cuts}`);
    assert.ok(rec.headers >= proxy.counts.cuts, `headers asked for on every connect: ${rec.headers} for ${proxy.counts.cuts} cuts`);
    console.log(`fetch: ${WRITES} writes through ${proxy.counts.cuts} cuts: ${names.length} received once in order; headers asked ${rec.headers} times`);
    await p.evaluate(() => window.src.close());
  } finally {
    await p.close();
    await proxy.close();
  }
});

test('an event over maxEventBytes is a typed error and a reconnect, never unbounded memory', async () => {
  const p = await page();
  const big = 'x'.repeat(4096);
  await p.evaluate(([url]) => window.run(url, { maxEventBytes: 1024, backoff: { initialMs: 10, maxMs: 20 } }, ['tick']),
    [`/_test/sse?event=tick&id=1&data=${big}`]);
  await until(p, () => window.rec.errors.length >= 2, null, 'two over-long events, two errors');
  const rec = await p.evaluate(() => window.rec);
  assert.deepEqual(rec.events, [], 'nothing of the over-long event is delivered');
  assert.ok(rec.errors.every((e) => e.kind === 'network' && /maxEventBytes \(1024 bytes\)/.test(e.message)), JSON.stringify(rec.errors));
  await p.evaluate(() => window.src.close());
  await p.close();
});

test('an over-long event the server replays on every reconnect backs off and counts toward maxAttempts', async () => {
  // Each connection opens (200) and then fails on the same event: an open that gets no further
  // is no progress. It used to reset the backoff, so the source reconnected at initialMs forever.
  const p = await page();
  const big = 'x'.repeat(4096);
  await p.evaluate(([url]) => window.run(url, { maxEventBytes: 1024, backoff: { initialMs: 10, maxMs: 40, jitter: false, maxAttempts: 4 } }, ['tick']),
    [`/_test/sse?event=tick&id=1&data=${big}`]);
  await until(p, () => window.src.state === 'closed', null, 'the source to give up');
  const rec = await p.evaluate(() => window.rec);
  const tooLong = rec.errors.filter((e) => /maxEventBytes \(1024 bytes\)/.test(e.message));
  assert.ok(tooLong.length >= 4 && tooLong.length <= 5, `one over-long error per attempt: ${JSON.stringify(rec.errors)}`);
  assert.match(rec.errors[rec.errors.length - 1].message, /gave up after 4 reconnect attempts/);
  assert.deepEqual(rec.events, []);
  await p.close();
});
