// End to end: the release pkg/ (optimised by npm binaryen's wasm-opt) served by a real
// livesource-dev, loaded by real headless Chromium, updating live after an HTTP POST.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { server, launch, insertProduct, watchProblems, assertPainted } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the served wasm is the release build on disk', async () => {
  const served = Buffer.from(await (await fetch(`${server}/pkg/livesource_wasm_bg.wasm`)).arrayBuffer());
  assert.ok(served.equals(readFileSync('pkg/livesource_wasm_bg.wasm')), '/pkg/ serves pkg/');
});

test('the demo page connects and shows an inserted product live', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });

  const name = `e2e-lamp-${Date.now()}`;
  const doc = await insertProduct({ name, price: 39 });
  const row = page.locator('#changes li', { hasText: name });
  await row.waitFor({ timeout: 10_000 });
  // What the page shows: the newest change first, describing the stored document.
  assert.equal(await row.getAttribute('data-op'), 'insert');
  const id = await row.getAttribute('data-id');
  assert.match(id, /^\S+$/);
  assert.equal(await page.locator('#changes li').first().getAttribute('data-id'), id, 'newest first');
  assert.equal(await row.textContent(), `#${id} inserted ${doc._id}: ${JSON.stringify(doc)}`);
  assert.equal(await page.textContent('#state'), 'open');
  assert.equal(await page.isHidden('#error'), true, 'no error shown');
  await assertPainted(row, 'the new change');
  await assertPainted(page.locator('#state'), 'the connection state');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});

test('plain ESM: a clear error before init, and init loads the wasm once however often called', async () => {
  const page = await browser.newPage();
  const wasmRequests = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmRequests.push(r.url()); });
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
    return { early, state, after: src.state, globals: Object.keys(window).filter((k) => /live/i.test(k)) };
  });
  assert.match(result.early, /before the wasm module was loaded; `await init\(\)` first/);
  assert.equal(result.state, 'connecting');
  assert.equal(result.after, 'closed');
  assert.deepEqual(result.globals, [], 'nothing global');
  assert.equal(wasmRequests.length, 1, `one wasm fetch: ${wasmRequests}`);
  await page.close();
});

test('a source nobody references keeps delivering through garbage collection', async () => {
  const gcBrowser = await launch(['--js-flags=--expose-gc']);
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
    await page.waitForFunction(() => window.state === 'open', null, { timeout: 10_000, polling: 20 });
    // Collect until a finalizer has run (wasm-bindgen frees a dropped wrapper's Rust side from
    // one), so collection and finalization did happen while nothing referenced the source.
    const collected = await page.evaluate(async () => {
      let finalized = false;
      const registry = new FinalizationRegistry(() => { finalized = true; });
      registry.register({}, 'canary');
      for (let i = 0; i < 100 && !finalized; i++) {
        window.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      return finalized;
    });
    assert.ok(collected, 'garbage was collected and finalized');
    assert.equal(await page.evaluate(() => window.state), 'open', 'the source is still open');
    const name = `gc-survivor-${Date.now()}`;
    await insertProduct({ name });
    await page.waitForFunction((n) => window.received.includes(n), name, { timeout: 10_000 });
  } finally {
    await gcBrowser.close();
  }
});
