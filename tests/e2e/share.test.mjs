// One connection for all tabs (`share: true`, issue 14): tabs of one browser profile that open
// the same stream share one server connection; the leader's close, crash or departure hands it
// to another tab without losing or repeating an event. Every count of server connections is
// the server's own (`/ready` reports `sseClients`).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { server, launch, engine, insertProduct, editorToken, waitForText, waitForSseClients, sseClients } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Every tab a test opens, until it closes them: a test that fails midway leaves its tabs here,
// and they are closed before the next test, whose counts of tabs and connections they would
// otherwise spoil (one failure became ten in CI that way).
const unclosed = new Set();
async function newTab() {
  const page = await browser.newPage();
  unclosed.add(page);
  return page;
}
afterEach(async () => {
  if (unclosed.size) await closeAll([...unclosed]);
});

const LIST = '/shop/products?pagesize=1000';

// A tab with a LiveSource on the product changes (window.src), every change it gets in
// window.got as [id, name], its states and errors in window.log, and (with `refresh`) the
// product list kept by fragment refresh in #product-list.
async function openTab(options = { share: true }, { refresh = true, stream = '/shop/products/_streams/changes' } = {}) {
  const page = await newTab();
  await page.goto(`${server}/health`);
  await page.evaluate(async ([opts, withRefresh, list, url]) => {
    document.body.innerHTML = '<table><tbody id="product-list"></tbody></table>';
    // Every relay message this tab sends or receives, as its first bytes (they name the event
    // and its id), kept in storage when a leading tab goes: a change that one tab lacks is then
    // either never relayed, or relayed and not delivered (see `whereLost`).
    window.relays = [];
    const Channel = window.BroadcastChannel;
    window.BroadcastChannel = class extends Channel {
      constructor(name) {
        super(name);
        this.addEventListener('message', (e) => window.relays.push(['in', String(e.data).slice(0, 40)]));
      }

      postMessage(data) {
        window.relays.push(['out', String(data).slice(0, 40)]);
        super.postMessage(data);
      }
    };
    addEventListener('pagehide', () => {
      if (window.src?.sharing === 'leader') {
        localStorage.setItem('gone-leader', JSON.stringify({ got: window.got, relays: window.relays }));
      }
    });
    const m = await import('/pkg/livesource.js');
    await m.default();
    window.got = [];
    window.log = [];
    const src = new m.LiveSource(url, { backoff: { initialMs: 50, maxMs: 400 }, ...opts });
    window.src = src;
    src.onState((s) => window.log.push(['state', s, Date.now()]));
    src.onError((e) => window.log.push(['error', e.kind, e.message, Date.now(), e.status]));
    src.onReset((r) => window.log.push(['reset', JSON.stringify(r), Date.now()]));
    src.on('change', (d, meta) => window.got.push([Number(meta.id), d.fullDocument?.name]));
    if (withRefresh) src.refresh('change', { url: list, target: '#product-list' });
  }, [options, refresh, LIST, stream]);
  return page;
}

// What a tab says of itself, for a failure's message.
const explain = (page) => page.evaluate(() => window.src && {
  sharing: window.src.sharing, state: window.src.state, log: window.log?.slice(-6),
}).catch((e) => `unreadable: ${e.message}`);
const waitOpen = (page) => page.waitForFunction(() => window.src?.state === 'open', null,
  { timeout: 15_000, polling: 20, what: 'state open' })
  .catch(async (e) => { throw new Error(`a tab did not open: ${JSON.stringify(await explain(page))}`, { cause: e }); });
const sharing = (page) => page.evaluate(() => window.src.sharing);

// Waits until one tab leads and every other follows, all open; returns the leader.
async function settled(pages, timeout = 15_000) {
  for (const p of pages) await waitOpen(p);
  const deadline = Date.now() + timeout;
  for (;;) {
    const roles = await Promise.all(pages.map(sharing));
    if (roles.filter((r) => r === 'leader').length === 1 && roles.every((r) => r !== 'off')) {
      return pages[roles.indexOf('leader')];
    }
    if (Date.now() > deadline) {
      throw new Error(`no single leader after ${timeout} ms: ${JSON.stringify(await Promise.all(pages.map(explain)))}`);
    }
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

async function writeBatch(batch, n, from = 0) {
  const write = (i) => insertProduct({ name: `${batch}-${i}`, price: i });
  for (let i = from; i < n; i += 4) {
    await Promise.all([0, 1, 2, 3].filter((k) => i + k < n).map((k) => write(i + k)));
  }
}

// The id of a relayed event from the first bytes of its message (`ls1`, then `<length>:<field>`
// for the tag `e`/`E`, the name and the id), else undefined.
function relayedId(text) {
  let rest = text.slice(3);
  const fields = [];
  while (fields.length < 3) {
    const colon = rest.indexOf(':');
    if (colon < 0) return undefined;
    const len = Number(rest.slice(0, colon));
    fields.push(rest.slice(colon + 1, colon + 1 + len));
    rest = rest.slice(colon + 1 + len);
  }
  return fields[0].toLowerCase() === 'e' ? fields[2] : undefined;
}

// For each change `page` lacks: its id (as any tab, open or gone, got it), and which tabs sent
// and received a relay of it.
async function whereLost(page, pages, names) {
  const tabs = await Promise.all(pages.map((p) => p.evaluate(() => ({
    me: window.src.sharing, got: window.got, relays: window.relays, gone: JSON.parse(localStorage.getItem('gone-leader') ?? 'null'),
  })).catch(() => null)));
  const gone = tabs.find(Boolean)?.gone;
  const all = [...tabs.filter(Boolean), ...(gone ? [{ me: 'gone leader', ...gone }] : [])];
  const mine = tabs[pages.indexOf(page)];
  return names.slice(0, 3).map((name) => {
    const id = all.flatMap((t) => t.got).find(([, n]) => n === name)?.[0];
    if (id === undefined) return { name, id: 'no tab got it' };
    const relayOf = (dir) => ([d, text]) => d === dir && relayedId(text) === String(id);
    return {
      name, id,
      sent: all.filter((t) => t.relays.some(relayOf('out'))).map((t) => t.me),
      receivedHere: mine?.relays.some(relayOf('in')),
      receivedElsewhere: all.filter((t) => t !== mine && t.relays.some(relayOf('in'))).map((t) => t.me),
    };
  });
}

// Every change of `batch` exactly once, in the server's order, in each page.
async function assertEveryChangeOnce(pages, batch, n) {
  for (const page of pages) {
    try {
      await page.waitForFunction(([prefix, count]) =>
        window.got.filter(([, name]) => name?.startsWith(prefix)).length >= count,
      [`${batch}-`, n], { timeout: 30_000, polling: 100 });
    } catch (e) {
      const others = await Promise.all(pages.filter((p) => p !== page).map((p) => p.evaluate(([prefix, count]) => {
        const have = new Set(window.got.map(([, name]) => name));
        return { sharing: window.src.sharing, missing: [...Array(count).keys()].filter((i) => !have.has(`${prefix}${i}`)).slice(0, 10) };
      }, [`${batch}-`, n]).catch((err) => err.message)));
      // Which changes are missing, and what arrived around each: a lost handover shows there.
      const seen = await page.evaluate(([prefix, count]) => {
        const mine = window.got.filter(([, name]) => name?.startsWith(prefix));
        const have = new Set(mine.map(([, name]) => name));
        const missing = [];
        for (let i = 0; i < count; i++) if (!have.has(`${prefix}${i}`)) missing.push(i);
        const at = (i) => window.got.findIndex(([, name]) => name === `${prefix}${i}`);
        // The writes go four at a time, so a change's neighbours in the log are within 4.
        const around = missing.slice(0, 3).map((i) => {
          const near = [at(i - 4), at(i + 4)].filter((k) => k >= 0);
          return near.length ? window.got.slice(Math.min(...near), Math.max(...near) + 1) : [];
        });
        return {
          n: mine.length, missing: missing.slice(0, 10), around,
          log: window.log.slice(-8), sharing: window.src.sharing, last: window.got.slice(-2),
        };
      }, [`${batch}-`, n]);
      const lost = await whereLost(page, pages, seen.missing.map((i) => `${batch}-${i}`));
      throw new Error(`not every change arrived: ${JSON.stringify(seen)}; where lost: ${JSON.stringify(lost)}; ` +
        `the other tabs: ${JSON.stringify(others)}`, { cause: e });
    }
    const got = await page.evaluate(() => window.got);
    for (let i = 1; i < got.length; i++) {
      assert.ok(got[i][0] > got[i - 1][0], `ids strictly increase: ${got[i - 1][0]} then ${got[i][0]} (at ${i})`);
    }
    const names = got.map(([, name]) => name).filter((x) => x?.startsWith(`${batch}-`));
    assert.equal(names.length, n, 'none lost, none repeated');
    assert.equal(new Set(names).size, n);
  }
}

// The fragment-refreshed list of each page converges on the server's.
async function assertListsEqualServer(pages) {
  const html = await (await fetch(`${server}${LIST}`, { headers: { 'HX-Request': 'true' } })).text();
  for (const page of pages) {
    const expected = await page.evaluate((h) => {
      const t = document.createElement('template');
      t.innerHTML = h;
      return t.content.firstElementChild.outerHTML;
    }, html);
    try {
      await page.waitForFunction((h) => document.getElementById('product-list')?.outerHTML === h,
        expected, { timeout: 20_000, polling: 200, what: 'the list equal to the server\'s' });
    } catch (e) {
      const seen = await page.evaluate(() => ({
        rows: document.querySelectorAll('#product-list tr').length,
        sharing: window.src.sharing, state: window.src.state, log: window.log.slice(-8),
      }));
      const rows = (expected.match(/<tr/g) || []).length;
      throw new Error(`the list is not the server's (${rows} rows there): ${JSON.stringify(seen)}`, { cause: e });
    }
  }
}

async function closeAll(pages) {
  for (const p of pages) {
    unclosed.delete(p);
    await p.close().catch(() => {});
  }
  await waitForSseClients(0);
}

test('10 tabs of the catalog page: one server connection, every tab updates live', async () => {
  const pages = [];
  for (let i = 0; i < 10; i++) {
    const page = await newTab();
    await page.goto(`${server}/shop/products?pagesize=1000`);
    pages.push(page);
  }
  for (const page of pages) await page.waitForSelector('#product-list[data-live-state="open"]', { timeout: 15_000 });
  await waitForSseClients(1);
  const name = `shared-catalog-${Date.now()}`;
  await insertProduct({ name, price: 7, stock: 1 });
  for (const page of pages) await waitForText(page, '#product-list tr', name, 15_000);
  assert.equal(await sseClients(), 1, 'still one connection for 10 tabs');
  console.log(`share: 10 catalog tabs (${engine}): ${await sseClients()} server connection, all 10 updated`);
  await closeAll(pages);
});

test('the leader closes during a 500-event burst: every other tab gets each event once, in order', async () => {
  const pages = [];
  for (let i = 0; i < 4; i++) pages.push(await openTab());
  const leader = await settled(pages);
  await waitForSseClients(1);
  const batch = `share-burst-${Date.now()}`;
  const N = 500;
  await writeBatch(batch, 150);
  const closedAt = Date.now();
  await leader.close();
  const rest = pages.filter((p) => p !== leader);
  const writing = writeBatch(batch, N, 150);
  const next = await settled(rest);
  const gap = Date.now() - closedAt;
  const roles = await Promise.all(rest.map(sharing));
  await writing;
  await assertEveryChangeOnce(rest, batch, N);
  await assertListsEqualServer(rest);
  await waitForSseClients(1);
  console.log(`share: leader closed mid-burst (${engine}): handover ${gap} ms to open, roles ${roles.join('/')}, ` +
    `${N} events once each in ${rest.length} tabs, ${await sseClients()} connection`);
  assert.ok(next);
  await closeAll(rest);
});

test('the leader crashes: a follower takes over; a tab opened later joins without a second connection', async () => {
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openTab());
  const leader = await settled(pages);
  await waitForSseClients(1);
  const batch = `share-crash-${Date.now()}`;
  await writeBatch(batch, 20);
  const crashedAt = Date.now();
  let how;
  if (engine === 'chromium') {
    // A renderer crash: no pagehide, no unload; the lock goes with the dead document.
    const cdp = await leader.raw.context().newCDPSession(leader.raw);
    cdp.send('Page.crash').catch(() => {});
    how = 'Page.crash';
  } else {
    // The closest these drivers offer: closing the tab (pagehide still runs).
    await leader.close();
    how = 'closed (no crash in this driver)';
  }
  const rest = pages.filter((p) => p !== leader);
  await writeBatch(batch, 40, 20);
  await settled(rest);
  const gap = Date.now() - crashedAt;
  await assertEveryChangeOnce(rest, batch, 40);
  await waitForSseClients(1);

  const late = await openTab();
  await waitOpen(late);
  assert.equal(await sharing(late), 'follower');
  await writeBatch(batch, 45, 40);
  await assertEveryChangeOnce([...rest], batch, 45);
  await late.waitForFunction((prefix) => window.got.filter(([, n]) => n?.startsWith(prefix)).length >= 5,
    `${batch}-`, { timeout: 15_000, polling: 50 });
  const lateGot = await late.evaluate((prefix) => window.got.filter(([, n]) => n?.startsWith(prefix)).map(([, n]) => n), `${batch}-`);
  assert.deepEqual([...lateGot].sort(), [40, 41, 42, 43, 44].map((i) => `${batch}-${i}`).sort(),
    'a tab that joins gets events from where it joined');
  assert.equal(await sseClients(), 1, 'the late tab added no connection');
  console.log(`share: leader ${how} (${engine}): a follower open in ${gap} ms; a late tab joined, ${await sseClients()} connection`);
  await closeAll([...rest, late]);
});

for (const transport of ['eventsource', 'fetch']) {
  test(`${transport}: tabs with only JS listeners share one connection`, async () => {
    const tabs = [];
    for (let i = 0; i < 3; i++) tabs.push(await openTab({ share: true, transport }, { refresh: false }));
    await settled(tabs);
    await waitForSseClients(1);
    const name = `share-${transport}-${Date.now()}`;
    await insertProduct({ name });
    for (const p of tabs) {
      await p.waitForFunction((n) => window.got.some(([, x]) => x === n), name, { timeout: 15_000 });
    }
    assert.equal(await sseClients(), 1);
    await closeAll(tabs);
  });
}

test('shareKey: only tabs with the same key share; another key gets its own connection', async () => {
  const a = [await openTab({ share: true, shareKey: 'user-a' }, { refresh: false }),
    await openTab({ share: true, shareKey: 'user-a' }, { refresh: false })];
  const b = await openTab({ share: true, shareKey: 'user-b' }, { refresh: false });
  await settled(a);
  await waitOpen(b);
  assert.equal(await sharing(b), 'leader', 'alone under its key');
  await waitForSseClients(2);
  const name = `share-key-${Date.now()}`;
  await insertProduct({ name });
  for (const p of [...a, b]) {
    await p.waitForFunction((n) => window.got.some(([, x]) => x === n), name, { timeout: 15_000 });
  }
  assert.equal(await sseClients(), 2, 'one connection per key');
  await closeAll([...a, b]);
});

test('close() in a follower ends only that tab; close() in the leader hands the stream to another tab, losing nothing', async () => {
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openTab({ share: true }, { refresh: false }));
  const leader = await settled(pages);
  await waitForSseClients(1);
  const [follower, other] = pages.filter((p) => p !== leader);
  const batch = `share-close-${Date.now()}`;
  await writeBatch(batch, 10);
  await follower.evaluate(() => window.src.close());
  assert.equal(await follower.evaluate(() => window.src.state), 'closed');
  await writeBatch(batch, 20, 10);
  await assertEveryChangeOnce([leader, other], batch, 20);
  assert.equal(await sseClients(), 1, 'the leader kept its connection');
  const gotByClosed = await follower.evaluate((prefix) => window.got.filter(([, n]) => n?.startsWith(prefix)).length, `${batch}-`);
  assert.ok(gotByClosed <= 10, `the closed tab got nothing after its close (${gotByClosed})`);

  await leader.evaluate(() => window.src.close());
  assert.equal(await leader.evaluate(() => window.src.state), 'closed');
  const writing = writeBatch(batch, 40, 20);
  await settled([other]);
  await writing;
  await assertEveryChangeOnce([other], batch, 40);
  assert.equal(await sharing(other), 'leader', 'the stream went to the tab left');
  await waitForSseClients(1);
  await closeAll(pages);
});

test('sharing off: one connection per tab', async () => {
  const own = [];
  for (let i = 0; i < 3; i++) own.push(await openTab({}, { refresh: false }));
  for (const p of own) await waitOpen(p);
  await waitForSseClients(3);
  assert.deepEqual(await Promise.all(own.map(sharing)), ['off', 'off', 'off']);
  await closeAll(own);
});

test('a stream the server refuses (404): every sharing tab gets the error and ends closed', async () => {
  const pages = [];
  for (let i = 0; i < 3; i++) {
    pages.push(await openTab({ share: true }, { refresh: false, stream: '/shop/products/_streams/no-such-stream' }));
  }
  for (const page of pages) {
    await page.waitForFunction(() => window.src.state === 'closed', null,
      { timeout: 15_000, polling: 50, what: 'state closed' });
    const errors = await page.evaluate(() => window.log.filter(([what]) => what === 'error'));
    assert.ok(errors.some(([, kind, , , status]) => kind === 'http' && status === 404),
      `the 404 reaches this tab too: ${JSON.stringify(errors)}`);
  }
  // Nobody retries a refusal: no tab holds a connection, and none comes back.
  await waitForSseClients(0);
  await new Promise((ok) => setTimeout(ok, 500));
  assert.equal(await sseClients(), 0);
  assert.deepEqual(await Promise.all(pages.map((p) => p.evaluate(() => window.src.state))), ['closed', 'closed', 'closed']);
  await closeAll(pages);
});

test('backoff.maxAttempts used up in the leader: every sharing tab gets the closed error and ends closed', async () => {
  const key = `share-give-up-${Date.now()}`;
  const pages = [];
  for (let i = 0; i < 3; i++) {
    pages.push(await openTab({ share: true, backoff: { initialMs: 50, maxMs: 100, maxAttempts: 2 } },
      { refresh: false, stream: `/_test/flaky/${key}?fail=100000&status=503` }));
  }
  for (const page of pages) {
    await page.waitForFunction(() => window.src.state === 'closed', null,
      { timeout: 15_000, polling: 50, what: 'state closed' })
      .catch(async (e) => { throw new Error(`a tab did not close: ${JSON.stringify(await explain(page))}`, { cause: e }); });
    const errors = await page.evaluate(() => window.log.filter(([what]) => what === 'error').map(([, kind, message]) => [kind, message]));
    assert.ok(errors.some(([kind, message]) => kind === 'closed' && /gave up after 2 reconnect attempts/.test(message)),
      `the leader's give-up reaches this tab too: ${JSON.stringify(errors)}`);
  }
  const hits = async () => (await (await fetch(`${server}/_test/hits/${key}`)).json()).hits.length;
  const after = await hits();
  await new Promise((ok) => setTimeout(ok, 500));
  assert.equal(await hits(), after, 'no tab tries again');
  await closeAll(pages);
});

test('patch stores: each tab keeps its own state; a tab that joins gets patches from where it joined', async () => {
  const topic = `dashboard:share-${Date.now()}`;
  const open = async () => {
    const page = await newTab();
    await page.goto(`${server}/health`);
    await page.evaluate(async (t) => {
      const m = await import('/pkg/livesource.js');
      await m.default();
      window.src = new m.LiveSource(`/dashboard/__events?topic=${encodeURIComponent(t)}`, { share: true });
      window.store = window.src.patches('patch', { initial: { counter: 0, rows: [] } });
    }, topic);
    return page;
  };
  const publish = async (ops) => {
    const res = await fetch(`${server}/_publish/${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${editorToken()}` },
      body: JSON.stringify(ops),
    });
    assert.ok(res.ok, await res.text());
  };
  const tabs = [await open(), await open(), await open()];
  await settled(tabs);
  await waitForSseClients(1);
  for (let i = 0; i < 10; i++) await publish([['add', '/rows/-', i]]);
  const rows = Array.from({ length: 10 }, (_, i) => i);
  for (const p of tabs) {
    await p.waitForFunction((n) => window.store.get().rows.length === n, 10, { polling: 20 });
    assert.deepEqual(await p.evaluate(() => window.store.get()), { counter: 0, rows });
  }
  const late = await open();
  await waitOpen(late);
  assert.equal(await sharing(late), 'follower');
  await publish([['replace', '/counter', 7]]);
  for (const p of tabs) await p.waitForFunction(() => window.store.get().counter === 7, null, { polling: 20 });
  await late.waitForFunction(() => window.store.get().counter === 7, null, { polling: 20 });
  assert.deepEqual(await late.evaluate(() => window.store.get()), { counter: 7, rows: [] },
    'the late tab applied only what came after it joined');
  assert.deepEqual(await tabs[0].evaluate(() => window.store.get()), { counter: 7, rows });
  assert.equal(await sseClients(), 1);
  await closeAll([...tabs, late]);
});

test('`online` in a follower opens no connection of its own; in the leader it reconnects at once', async () => {
  // A stream that answers 503, and a backoff of 60 s without jitter: both tabs sit in
  // `reconnecting` with no connection, so any request for the stream in the next seconds came
  // from an `online` handler.
  const key = `share-online-${Date.now()}`;
  const options = { share: true, backoff: { initialMs: 60_000, maxMs: 60_000, jitter: false } };
  const stream = `/_test/flaky/${key}?fail=1000000`;
  const tabs = [];
  for (let i = 0; i < 2; i++) tabs.push(await openTab(options, { refresh: false, stream }));
  const requests = async () => (await (await fetch(`${server}/_test/hits/${key}`)).json()).hits.length;
  let roles;
  for (const deadline = Date.now() + 15_000; ;) {
    roles = await Promise.all(tabs.map((p) => p.evaluate(() => [window.src.sharing, window.src.state])));
    if (roles.every(([, state]) => state === 'reconnecting') && roles.some(([role]) => role === 'leader')) break;
    if (Date.now() > deadline) assert.fail(`not one leader with both tabs reconnecting: ${JSON.stringify(roles)}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
  const leader = tabs[roles.findIndex(([role]) => role === 'leader')];
  const follower = tabs.find((p) => p !== leader);
  // The leader's failed attempt (and its probe) are over when the count stops moving.
  let before = await requests();
  for (let still = 0, polls = 0; still < 5 && polls < 50; polls++) {
    await new Promise((ok) => setTimeout(ok, 100));
    const now = await requests();
    [before, still] = now === before ? [before, still + 1] : [now, 0];
  }
  await follower.evaluate(() => { dispatchEvent(new Event('online')); });
  await new Promise((ok) => setTimeout(ok, 1000));
  assert.equal(await requests(), before, 'the follower made no request of its own');
  assert.equal(await sharing(follower), 'follower');
  await leader.evaluate(() => { dispatchEvent(new Event('online')); });
  for (const deadline = Date.now() + 2000; (await requests()) === before;) {
    if (Date.now() > deadline) assert.fail('the leader did not reconnect on `online`');
    await new Promise((ok) => setTimeout(ok, 50));
  }
  await closeAll(tabs);
});

// Polls `fn(arg)` in a page that may be navigating (an evaluation fails meanwhile) until it
// returns something truthy.
async function answer(page, fn, arg, what) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await page.evaluate(fn, arg).catch(() => false);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

test('the leader navigates away: another tab takes over; coming back it follows', async () => {
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openTab());
  const leader = await settled(pages);
  await waitForSseClients(1);
  await leader.evaluate(() => { window.marker = 'before'; });
  const rest = pages.filter((p) => p !== leader);
  const leftAt = Date.now();
  // The driver's own navigation, which waits for the new page (an evaluation during a
  // navigation can block a WebDriver session until its script timeout).
  await leader.goto(`${server}/ready`);
  await settled(rest);
  const gap = Date.now() - leftAt;
  await leader.back();
  await answer(leader, () => location.pathname === '/health' && document.readyState === 'complete', null, 'back');
  const restored = await leader.evaluate(() => window.marker === 'before');
  const batch = `share-back-${Date.now()}`;
  if (restored) {
    // Restored from the back/forward cache: it rejoins as a follower and gets new events.
    await waitOpen(leader);
    assert.equal(await sharing(leader), 'follower');
    await writeBatch(batch, 5);
    await leader.waitForFunction((prefix) => window.got.filter(([, n]) => n?.startsWith(prefix)).length === 5,
      `${batch}-`, { timeout: 15_000, polling: 50 });
  } else {
    await writeBatch(batch, 5);
  }
  await assertEveryChangeOnce(rest, batch, 5);
  await waitForSseClients(1);
  console.log(`share: leader navigated away (${engine}): a follower open in ${gap} ms; back: ` +
    `${restored ? 'restored from the back/forward cache, follows' : 'not from the back/forward cache (a new document)'}`);
  await closeAll(pages);
});

test('a leader that stops relaying is replaced, then follows; and no event is lost or repeated', async () => {
  const options = { share: true, heartbeatTimeoutMs: 1500 };
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openTab(options, { refresh: false }));
  const leader = await settled(pages);
  await waitForSseClients(1);
  const batch = `share-hang-${Date.now()}`;
  await writeBatch(batch, 10);
  // The followers watch a leader once it has relayed a heartbeat (the server sends one a second).
  const rest = pages.filter((p) => p !== leader);
  for (const p of rest) {
    await p.evaluate(() => { window.beats = 0; window.src.on('heartbeat', () => { window.beats++; }); });
    await p.waitForFunction(() => window.beats > 0, null, { polling: 20, what: 'a relayed heartbeat' });
  }
  // It stops relaying, as a hung or frozen page would, but keeps its lock and its connection.
  // (Blocking its main thread would block the other tabs too where they share its process.)
  await leader.evaluate(() => {
    window.post = BroadcastChannel.prototype.postMessage;
    BroadcastChannel.prototype.postMessage = function () {};
  });
  const hungAt = Date.now();
  while (!(await Promise.all(rest.map(sharing))).includes('leader')) {
    if (Date.now() - hungAt > 15_000) {
      const logs = await Promise.all(pages.map((p) => p.evaluate(() => [window.src.sharing, window.log.slice(-5)])));
      assert.fail(`no follower took over within 15 s: ${JSON.stringify(logs)}`);
    }
    await new Promise((ok) => setTimeout(ok, 20));
  }
  const gap = Date.now() - hungAt;
  await writeBatch(batch, 20, 10);
  await leader.evaluate(() => { BroadcastChannel.prototype.postMessage = window.post; });
  await settled(pages);
  assert.equal(await sharing(leader), 'follower', 'the woken tab follows');
  await writeBatch(batch, 25, 20);
  await assertEveryChangeOnce(pages, batch, 25);
  await waitForSseClients(1);
  console.log(`share: a leader that stopped relaying (${engine}) replaced after ${gap} ms; it follows`);
  await closeAll(pages);
});

// Playwright turns Chromium's back/forward cache off; this case launches a Chromium of its own
// with it on (the harness's other engines do not restore these pages from the cache: see above).
test('Chromium: a leader put in the back/forward cache hands over; restored, it follows', { skip: engine !== 'chromium' }, async () => {
  const { chromium } = await import('playwright-core');
  const own = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const context = await own.newContext();
    const open = async () => {
      const page = await context.newPage();
      await page.goto(`${server}/health`);
      await page.evaluate(async () => {
        const m = await import('/pkg/livesource.js');
        await m.default();
        window.got = [];
        window.src = new m.LiveSource('/shop/products/_streams/changes', { share: true });
        window.src.on('change', (d, meta) => window.got.push([Number(meta.id), d.fullDocument?.name]));
      });
      await page.waitForFunction(() => window.src.state === 'open', null, { polling: 20 });
      return page;
    };
    const leader = await open();
    const follower = await open();
    assert.equal(await leader.evaluate(() => window.src.sharing), 'leader');
    await waitForSseClients(1);
    await leader.evaluate(() => { window.marker = 'kept'; });
    const leftAt = Date.now();
    await leader.goto(`${server}/ready`);
    await follower.waitForFunction(() => window.src.sharing === 'leader' && window.src.state === 'open', null, { polling: 20 });
    const gap = Date.now() - leftAt;
    await leader.goBack({ waitUntil: 'commit' });
    await leader.waitForFunction(() => document.readyState === 'complete', null, { polling: 20 });
    const restored = await leader.evaluate(() => window.marker === 'kept');
    assert.ok(restored, 'the page came back from the back/forward cache');
    await leader.waitForFunction(() => window.src.sharing === 'follower' && window.src.state === 'open', null, { polling: 20 });
    const batch = `share-bfcache-${Date.now()}`;
    await writeBatch(batch, 5);
    for (const p of [leader, follower]) {
      await p.waitForFunction((prefix) => window.got.filter(([, n]) => n?.startsWith(prefix)).length === 5,
        `${batch}-`, { polling: 20 });
    }
    await waitForSseClients(1);
    console.log(`share: leader into the back/forward cache (chromium): a follower open in ${gap} ms; restored, it follows; 1 connection`);
  } finally {
    await own.close();
  }
  await waitForSseClients(0);
});

for (const [missing, reason] of [['locks', 'the Web Locks API is missing'], ['channel', 'BroadcastChannel is missing']]) {
  test(`without ${missing === 'locks' ? 'Web Locks' : 'BroadcastChannel'} each source connects on its own and says so once`, async () => {
    const page = await newTab();
    await page.goto(`${server}/health`);
    const out = await page.evaluate(async (what) => {
      if (what === 'locks') Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
      else delete globalThis.BroadcastChannel;
      const said = [];
      const info = console.info;
      console.info = (...a) => { said.push(a.join(' ')); info.apply(console, a); };
      const m = await import('/pkg/livesource.js');
      await m.default();
      const a = new m.LiveSource('/shop/products/_streams/changes', { share: true });
      const b = new m.LiveSource('/shop/products/_streams/changes', { share: true });
      window.srcs = [a, b];
      return { said: said.filter((s) => s.includes('share')), roles: [a.sharing, b.sharing] };
    }, missing);
    assert.deepEqual(out.roles, ['off', 'off']);
    assert.equal(out.said.length, 1, `said once: ${JSON.stringify(out.said)}`);
    assert.ok(out.said[0].includes(`share is off in this page (${reason}); each tab keeps its own connection`), out.said[0]);
    await page.waitForFunction(() => window.srcs.every((s) => s.state === 'open'), null, { polling: 20 });
    await waitForSseClients(2);
    await closeAll([page]);
  });
}
