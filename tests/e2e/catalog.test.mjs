// The Facet-style catalog (/shop/products): a server-rendered table kept live by
// livesource-auto.js and data-live-* attributes alone, with no page JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { server, launch, insertProduct, watchProblems } from './support.mjs';

let browser;
const shots = mkdtempSync(join(tmpdir(), 'livesource-shots-'));
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); rmSync(shots, { recursive: true, force: true }); });

test('an inserted product appears in the catalog without a reload', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/shop/products?pagesize=1000`);
  await page.waitForSelector('#product-list[data-live-state="open"]', { state: 'attached', timeout: 10_000 });
  const loads = [];
  page.on('load', () => loads.push(Date.now()));

  const name = `catalog-chair-${Date.now()}`;
  await insertProduct({ name, price: 120, stock: 3 });
  await page.locator('#product-list tr', { hasText: name }).waitFor({ timeout: 10_000 });
  assert.deepEqual(loads, [], 'the page was not reloaded');
  assert.equal(await page.getAttribute('#product-list', 'data-live-state'), 'open',
    'the swapped-in list is still wired and marked');
  const shown = await page.evaluate(() => getComputedStyle(document.querySelector('.live-state'), '::after').content);
  assert.equal(shown, '"open"', 'the page shows its connection state');

  const shot = join(shots, 'catalog.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 1000, 'the screenshot is not empty');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});

test('auto-wiring attaches and detaches with DOM changes, one connection per source', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/shop/products`);
  await page.waitForSelector('#product-list[data-live-state="open"]', { state: 'attached', timeout: 10_000 });
  const counts = () => page.evaluate(async () => {
    const wiring = (await import('/pkg/livesource-auto.js')).default;
    await new Promise(r => setTimeout(r, 50)); // let the MutationObserver run
    return [wiring.elements, wiring.connections];
  });
  assert.deepEqual(await counts(), [1, 1]);

  await page.evaluate(() => {
    const table = document.createElement('table');
    table.id = 'second';
    table.innerHTML = `<tbody data-live-src="/shop/products/_streams/changes" data-live-event="change"
      data-live-get="/shop/products" data-live-swap="innerHTML"></tbody>`;
    document.body.append(table);
  });
  assert.deepEqual(await counts(), [2, 1], 'a new element shares the open connection');
  await page.waitForSelector('#second tbody[data-live-state="open"]', { state: 'attached' });

  const name = `catalog-shared-${Date.now()}`;
  await insertProduct({ name });
  await page.locator('#second tbody tr', { hasText: name }).waitFor({ timeout: 10_000 });

  await page.evaluate(() => document.getElementById('second').remove());
  assert.deepEqual(await counts(), [1, 1], 'a removed element is unwired');
  await page.evaluate(() => document.getElementById('product-list').closest('table').remove());
  assert.deepEqual(await counts(), [0, 0], 'the last element closes the connection');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});
