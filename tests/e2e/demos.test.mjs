// The JSON-Patch dashboard, the typed feed, and htmx inside swapped fragments, in each engine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { server, launch, insertProduct, mintToken, assertNoProblems, waitForOpen } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function publish(topic, patch) {
  const res = await fetch(`${server}/_publish/${encodeURIComponent(topic)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${mintToken('editor')}` },
    body: JSON.stringify(patch),
  });
  assert.ok(res.ok, `publish answered ${res.status}: ${await res.text()}`);
}

test('the dashboard applies published patches and refuses a failing one whole', async () => {
  const page = await browser.newPage();
  const topic = `dashboard:e2e-${Date.now()}`;
  await page.goto(`${server}/dashboard?topic=${encodeURIComponent(topic)}`);
  await page.waitForSelector('#state[data-state="open"]');

  await publish(topic, [['replace', '/counter', 7], ['add', '/rows/-', { id: 1, name: 'first' }]]);
  await page.waitForFunction(() => document.getElementById('counter').textContent === '7');
  assert.equal(await page.evaluate(() => document.querySelectorAll('#rows tr').length), 1);

  await publish(topic, [['replace', '/counter', 999], ['test', '/counter', -1]]);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /patch: op 1/);
  assert.equal(await page.textContent('#counter'), '7', 'nothing of the failed patch shows');
  await assertNoProblems(page);
  await page.close();
});

test('the feed connects with a viewer token and lists typed events', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/feed`);
  await page.fill('input[name=token]', mintToken('viewer'));
  await page.click('#connect button');
  await page.waitForSelector('#state[data-state="open"]');
  await page.waitForFunction(() => document.getElementById('mode').textContent === 'normal');
  await insertProduct({ name: `feed-${Date.now()}` });
  await page.waitForSelector('#events li[data-event="item.created"]');
  await assertNoProblems(page);
  await page.close();
});

test('with htmx on the page, hx-* attributes inside a swapped fragment work', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/health`);
  await page.addScript(readFileSync('node_modules/htmx.org/dist/htmx.min.js', 'utf8'));
  const inner = encodeURIComponent('<p id="loaded">loaded by htmx</p>');
  const fragment = encodeURIComponent(
    `<div><button id="more" hx-get="/_test/fragment?html=${inner}" hx-target="#out">more</button><div id="out"></div></div>`);
  await page.evaluate(async (url) => {
    const slot = document.createElement('div');
    slot.id = 'slot';
    document.body.append(slot);
    const m = await import('/pkg/livesource.js');
    await m.default();
    window.src = new m.LiveSource('/shop/products/_streams/changes');
    window.log = [];
    window.src.onState((s) => window.log.push(['state', s]));
    window.src.onError((e) => window.log.push(['error', e.kind, e.message]));
    window.src.on('change', (d) => window.log.push(['change', d.fullDocument?.name]));
    window.src.refresh('change', { url, target: '#slot', swap: 'innerHTML' });
  }, `/_test/fragment?html=${fragment}`);
  await waitForOpen(page); // open before the write that triggers a refresh
  const name = `htmx-${Date.now()}`;
  await insertProduct({ name });
  await page.waitForSelector('#more').catch(async (e) => {
    const seen = await page.evaluate(() => ({ state: window.src.state, log: window.log, slot: document.getElementById('slot')?.innerHTML }));
    throw new Error(`no fragment after the insert of ${name}: ${JSON.stringify(seen)}`, { cause: e });
  });
  await page.click('#more');
  await page.waitForSelector('#loaded');
  await assertNoProblems(page);
  await page.close();
});
