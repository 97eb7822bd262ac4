// Faults between the browser and the server: while 2,000 documents are written, a proxy cuts
// the stream at least 20 times and stalls it 3 times. The page's listener must see every change
// exactly once, in order, and its fragment-refreshed list must end equal to the server's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, launch, insertProduct } from './support.mjs';
import { FaultProxy } from './fault-proxy.mjs';

const WRITES = Number(process.env.FAULT_WRITES ?? 2000);
let browser;
let proxy;
let proxied;

before(async () => {
  browser = await launch();
  proxy = new FaultProxy(Number(new URL(server).port), { latencyMs: 3 });
  proxied = `http://127.0.0.1:${await proxy.listen()}`;
});
after(async () => {
  await browser?.close();
  await proxy?.close();
});

test(`${WRITES} writes through ${'>='}20 cuts and 3 stalls: every change once, in order`, async () => {
  const page = await browser.newPage();
  // The page itself comes through the proxy, so the stream is same-origin like a real deploy.
  await page.goto(`${proxied}/health`);
  const batch = `faults-${Date.now()}`;
  await page.evaluate(async () => {
    document.body.innerHTML = '<table><tbody id="product-list"></tbody></table>';
    const m = await import('/pkg/livesource.js');
    await m.default();
    window.got = [];
    window.states = [];
    const src = new m.LiveSource('/shop/products/_streams/changes', {
      backoff: { initialMs: 50, maxMs: 400 },
    });
    src.onState((s) => window.states.push([s, Math.round(performance.now())]));
    src.onError((e) => window.states.push(['error ' + e.kind + ' ' + e.message, Math.round(performance.now())]));
    src.on('change', (d, meta) => window.got.push([Number(meta.id), d.fullDocument?.name]));
    src.refresh('change', { url: '/shop/products?pagesize=1000', target: '#product-list' });
    await new Promise((ok) => { const t = setInterval(() => { if (src.state === 'open') { clearInterval(t); ok(); } }, 20); });
  });

  const write = (i) => insertProduct({ name: `${batch}-${i}`, price: i });
  let writing = true;
  const chaos = (async () => {
    let stalls = 0;
    while (writing || proxy.counts.cuts < 20 || stalls < 3) {
      await new Promise((ok) => setTimeout(ok, 60 + Math.random() * 120));
      if (stalls < 3 && proxy.counts.cuts >= (stalls + 1) * 6) {
        if (await proxy.stall(700)) stalls++;
      } else {
        proxy.cut();
      }
      if (!writing && proxy.counts.cuts > 200) break; // bounded whatever happens
    }
  })();
  for (let i = 0; i < WRITES; i += 4) {
    await Promise.all([0, 1, 2, 3].filter((k) => i + k < WRITES).map((k) => write(i + k)));
  }
  writing = false;
  await chaos;

  const expected = Array.from({ length: WRITES }, (_, i) => `${batch}-${i}`);
  try {
    await page.waitForFunction(
      ([prefix, n]) => window.got.filter(([, name]) => name?.startsWith(prefix)).length >= n,
      [`${batch}-`, WRITES], { timeout: 60_000, polling: 200 });
  } catch (e) {
    const seen = await page.evaluate((prefix) => {
      const ids = window.got.map(([id]) => id);
      const gaps = [];
      for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1] + 1) gaps.push([ids[i - 1], ids[i], i]);
      return { n: window.got.length, first: window.got.slice(0, 2), last: window.got.slice(-2), gaps: gaps.slice(0, 10), states: window.states.slice(-6) };
    }, `${batch}-`);
    throw new Error(`not every change arrived: ${JSON.stringify(seen)}`, { cause: e });
  }
  const got = await page.evaluate(() => window.got);
  const ids = got.map(([id]) => id);
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i] > ids[i - 1], `ids strictly increase: ${ids[i - 1]} then ${ids[i]} (at ${i})`);
  }
  const names = got.map(([, name]) => name).filter((n) => n?.startsWith(`${batch}-`));
  // Writes ran four at a time, so their order is the server's commit order, not i's.
  assert.equal(names.length, WRITES, 'no change lost and none duplicated');
  assert.deepEqual([...names].sort(), [...expected].sort());
  assert.equal(new Set(names).size, WRITES);

  // The fragment-refreshed list converges on the server's.
  const serverList = await (await fetch(`${server}/shop/products?pagesize=1000`, { headers: { 'HX-Request': 'true' } })).text();
  const expectedHtml = await page.evaluate((html) => {
    const t = document.createElement('template');
    t.innerHTML = html;
    return t.content.firstElementChild.outerHTML;
  }, serverList);
  await page.waitForFunction((html) => document.getElementById('product-list')?.outerHTML === html,
    expectedHtml, { timeout: 20_000, polling: 200 });

  assert.ok(proxy.counts.cuts >= 20, `cuts: ${proxy.counts.cuts}`);
  assert.ok(proxy.counts.stalls >= 3, `stalls: ${proxy.counts.stalls}`);
  console.log(`faults: ${WRITES} writes, ${names.length} received, ${proxy.counts.cuts} cuts, ` +
    `${proxy.counts.stalls} stalls, ${proxy.counts.streams} stream connections, duplicates 0, lost 0`);
  // Console errors are expected here: the browser logs every connection the proxy cuts.
  assert.deepEqual((await page.problems()).filter((p) => !p.startsWith('console:')), []);
  await page.close();
});
