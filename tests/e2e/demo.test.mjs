// End to end: the release pkg/ (optimised by npm binaryen's wasm-opt) served by a real
// livesource-dev, loaded by a real browser (each engine in turn), updating live after a POST.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { server, engine, launch, insertProduct, assertPainted, assertNoProblems, waitForText } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the served wasm is the release build on disk', async () => {
  const served = Buffer.from(await (await fetch(`${server}/pkg/livesource_wasm_bg.wasm`)).arrayBuffer());
  assert.ok(served.equals(readFileSync('pkg/livesource_wasm_bg.wasm')), '/pkg/ serves pkg/');
});

test('the demo page connects and shows an inserted product live', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/`);
  await page.waitForSelector('#state[data-state="open"]');

  const name = `e2e-lamp-${Date.now()}`;
  const doc = await insertProduct({ name, price: 39 });
  await waitForText(page, '#changes li', name);
  // What the page shows: the newest change first, describing the stored document.
  const shown = await page.evaluate((n) => {
    const items = [...document.querySelectorAll('#changes li')];
    const row = items.find((li) => li.textContent.includes(n));
    return {
      op: row.getAttribute('data-op'), id: row.getAttribute('data-id'), text: row.textContent,
      first: items[0].getAttribute('data-id'), state: document.getElementById('state').textContent,
      errorHidden: document.getElementById('error').hidden,
    };
  }, name);
  assert.equal(shown.op, 'insert');
  assert.match(shown.id, /^\S+$/);
  assert.equal(shown.first, shown.id, 'newest first');
  // A new document's id is an ObjectId, {"$oid": "…"} in JSON as RESTHeart sends it; the page
  // shows its hex digits.
  assert.match(doc._id?.$oid ?? '', /^[0-9a-f]{24}$/, `an ObjectId: ${JSON.stringify(doc._id)}`);
  assert.equal(shown.text, `#${shown.id} inserted ${doc._id.$oid}: ${JSON.stringify(doc)}`);
  assert.equal(shown.state, 'open');
  assert.equal(shown.errorHidden, true, 'no error shown');
  await assertPainted(page, '#changes li', 'the new change', name);
  await assertPainted(page, '#state', 'the connection state');
  await assertNoProblems(page);
  await page.close();
});

test('plain ESM: a clear error before init, and init loads the wasm once however often called', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/health`);
  const result = await page.evaluate(async () => {
    const m = await import('/pkg/livesource.js');
    let early;
    try { new m.LiveSource('/shop/products/_streams/changes'); } catch (e) { early = e.message; }
    await Promise.all([m.default(), m.default(), m.default()]);
    await m.default();
    const src = new m.LiveSource('/shop/products/_streams/changes');
    const state = src.state;
    src.close();
    // What the page fetched, from its own record: the same in every engine.
    const wasm = performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('.wasm'));
    return { early, state, after: src.state, globals: Object.keys(window).filter((k) => /live/i.test(k)), wasm };
  });
  const wasmRequests = result.wasm;
  assert.match(result.early, /before the wasm module was loaded; `await init\(\)` first/);
  assert.equal(result.state, 'connecting');
  assert.equal(result.after, 'closed');
  assert.deepEqual(result.globals, [], 'nothing global');
  assert.equal(wasmRequests.length, 1, `one wasm fetch: ${wasmRequests}`);
  await page.close();
});

test('a source nobody references keeps delivering through garbage collection', async () => {
  // Chromium exposes gc() with V8's --expose-gc; elsewhere 50 MB of short-lived buffers per
  // round make the collector run. Either way a FinalizationRegistry canary proves a collection finalized.
  const gcBrowser = engine === 'chromium' ? await launch({ chromiumArgs: ['--js-flags=--expose-gc'] }) : browser;
  try {
    const page = await gcBrowser.newPage();
    await page.goto(`${server}/health`);
    await page.evaluate(async () => {
      const m = await import('/pkg/livesource.js');
      await m.default();
      window.received = [];
      // No reference kept to the source, the store or the unsubscribe functions.
      (() => {
        const src = new m.LiveSource('/shop/products/_streams/changes');
        src.on('change', (d) => window.received.push(d.fullDocument?.name));
        src.onState((state) => { window.state = state; });
      })();
    });
    await page.waitForFunction(() => window.state === 'open', null, { polling: 20 });
    // Collect until a finalizer has run (wasm-bindgen frees a dropped wrapper's Rust side from
    // one), so collection and finalization did happen while nothing referenced the source.
    const collected = await page.evaluate(async () => {
      let finalized = false;
      const registry = new FinalizationRegistry(() => { finalized = true; });
      registry.register({}, 'canary');
      const start = performance.now();
      while (!finalized && performance.now() - start < 20_000) {
        if (typeof window.gc === 'function') window.gc();
        else for (let j = 0; j < 50; j++) new ArrayBuffer(1 << 20);
        await new Promise((r) => setTimeout(r, 10));
      }
      return finalized;
    });
    assert.ok(collected, 'garbage was collected and finalized');
    assert.equal(await page.evaluate(() => window.state), 'open', 'the source is still open');
    const name = `gc-survivor-${Date.now()}`;
    await insertProduct({ name });
    await page.waitForFunction((n) => window.received.includes(n), name);
    await page.close();
  } finally {
    if (gcBrowser !== browser) await gcBrowser.close();
  }
});
