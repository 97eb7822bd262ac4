// The Facet-style catalog (/shop/products): a server-rendered table kept live by
// livesource-auto.js and data-live-* attributes alone, with no page JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { server, launch, insertProduct, watchProblems, assertPainted } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an inserted product appears in the catalog without a reload', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/shop/products?pagesize=1000`);
  await page.waitForSelector('#product-list[data-live-state="open"]', { state: 'attached', timeout: 10_000 });
  const loads = [];
  page.on('load', () => loads.push(Date.now()));

  const name = `catalog-chair-${Date.now()}`;
  const doc = await insertProduct({ name, price: 120, stock: 3 });
  const row = page.locator('#product-list tr', { hasText: name });
  await row.waitFor({ timeout: 10_000 });
  assert.deepEqual(loads, [], 'the page was not reloaded');
  // What the page shows: the server-rendered row of the new document, cell by cell.
  assert.equal(await row.getAttribute('data-id'), doc._id);
  assert.deepEqual(await row.locator('td').allTextContents(), [doc._id, name, '120', '3']);
  assert.equal(await page.locator('#product-list tr.empty').count(), 0, 'no "no documents" row');
  assert.equal(await page.getAttribute('#product-list', 'data-live-state'), 'open',
    'the swapped-in list is still wired and marked');
  const shown = await page.evaluate(() => getComputedStyle(document.querySelector('.live-state'), '::after').content);
  assert.equal(shown, '"open"', 'the page shows its connection state');
  await assertPainted(row, 'the new row');
  await assertPainted(page.locator('.live-state'), 'the connection state');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});

test('auto-wiring attaches and detaches with DOM changes, one connection per source', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/shop/products`);
  await page.waitForSelector('#product-list[data-live-state="open"]', { state: 'attached', timeout: 10_000 });
  // [elements, connections] once the MutationObserver has seen `elements` wired elements.
  const counts = async (elements) => {
    await page.waitForFunction(async (n) =>
      (await import('/pkg/livesource-auto.js')).default.elements === n, elements, { polling: 20 });
    return page.evaluate(async () => {
      const wiring = (await import('/pkg/livesource-auto.js')).default;
      return [wiring.elements, wiring.connections];
    });
  };
  assert.deepEqual(await counts(1), [1, 1]);

  await page.evaluate(() => {
    const table = document.createElement('table');
    table.id = 'second';
    table.innerHTML = `<tbody data-live-src="/shop/products/_streams/changes" data-live-event="change"
      data-live-get="/shop/products" data-live-swap="innerHTML"></tbody>`;
    document.body.append(table);
  });
  assert.deepEqual(await counts(2), [2, 1], 'a new element shares the open connection');
  await page.waitForSelector('#second tbody[data-live-state="open"]', { state: 'attached' });

  const name = `catalog-shared-${Date.now()}`;
  await insertProduct({ name });
  await page.locator('#second tbody tr', { hasText: name }).waitFor({ timeout: 10_000 });

  await page.evaluate(() => document.getElementById('second').remove());
  assert.deepEqual(await counts(1), [1, 1], 'a removed element is unwired');
  await page.evaluate(() => document.getElementById('product-list').closest('table').remove());
  assert.deepEqual(await counts(0), [0, 0], 'the last element closes the connection');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});
