// Facet's product catalog (a server-rendered template) (/shop/products): a server-rendered table kept live by
// livesource-auto.js and data-live-* attributes alone, with no page JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { server, launch, insertProduct, assertPainted, assertNoProblems, waitForText } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an inserted product appears in the catalog without a reload', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/shop/products?pagesize=1000`);
  await page.waitForSelector('#product-list[data-live-state="open"]');
  // A reload would start a new document, which has no such mark.
  await page.evaluate(() => { window.notReloaded = true; });

  const name = `catalog-chair-${Date.now()}`;
  const doc = await insertProduct({ name, price: 120, stock: 3 });
  await waitForText(page, '#product-list tr', name);
  const shown = await page.evaluate((n) => {
    const row = [...document.querySelectorAll('#product-list tr')].find((tr) => tr.textContent.includes(n));
    return {
      notReloaded: window.notReloaded === true,
      id: row.getAttribute('data-id'),
      cells: [...row.querySelectorAll('td')].map((td) => td.textContent),
      empty: document.querySelectorAll('#product-list tr.empty').length,
      state: document.getElementById('product-list').getAttribute('data-live-state'),
      label: getComputedStyle(document.querySelector('.live-state'), '::after').content,
    };
  }, name);
  assert.ok(shown.notReloaded, 'the page was not reloaded');
  // What the page shows: the server-rendered row of the new document, cell by cell.
  // A new document's id is an ObjectId ({"$oid": "…"} in JSON); the row shows its hex digits.
  assert.match(doc._id?.$oid ?? '', /^[0-9a-f]{24}$/, `an ObjectId: ${JSON.stringify(doc._id)}`);
  assert.equal(shown.id, doc._id.$oid);
  assert.deepEqual(shown.cells, [doc._id.$oid, name, '120', '3']);
  assert.equal(shown.empty, 0, 'no "no documents" row');
  assert.equal(shown.state, 'open', 'the swapped-in list is still wired and marked');
  assert.equal(shown.label, '"open"', 'the page shows its connection state');
  await assertPainted(page, '#product-list tr', 'the new row', name);
  await assertPainted(page, '.live-state', 'the connection state');
  await assertNoProblems(page);
  await page.close();
});

test('auto-wiring attaches and detaches with DOM changes, one connection per source', async () => {
  const page = await browser.newPage();
  await page.goto(`${server}/shop/products`);
  await page.waitForSelector('#product-list[data-live-state="open"]');
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
  await page.waitForSelector('#second tbody[data-live-state="open"]');

  const name = `catalog-shared-${Date.now()}`;
  await insertProduct({ name });
  await waitForText(page, '#second tbody tr', name);

  await page.evaluate(() => document.getElementById('second').remove());
  assert.deepEqual(await counts(1), [1, 1], 'a removed element is unwired');
  await page.evaluate(() => document.getElementById('product-list').closest('table').remove());
  assert.deepEqual(await counts(0), [0, 0], 'the last element closes the connection');
  await assertNoProblems(page);
  await page.close();
});

// A page on livesource-dev with htmx and the auto-wiring script, `live` (an element with id
// `live`) inside `#box`, once it is wired and open; `window.wiring` is the wiring.
async function htmxPage(live) {
  const page = await browser.newPage();
  await page.goto(`${server}/health`);
  await page.addScript(readFileSync('node_modules/htmx.org/dist/htmx.min.js', 'utf8'));
  await page.evaluate(async (html) => {
    document.body.innerHTML = `<div id="box">${html}</div>`;
    window.wiring = (await import('/pkg/livesource-auto.js')).default;
  }, live);
  await page.waitForSelector('#live[data-live-state="open"]');
  return page;
}

test('htmx swaps the container of a live element: the equal element htmx puts in keeps the connection', async () => {
  // htmx, not livesource, replaces the element: the new one is wired to the open source
  // before the old one lets go of it, so the stream is not reconnected (and nothing published
  // in between is lost). `/_test/flaky/KEY` logs each request: one connection, before and after.
  const key = `htmx-container-${Date.now()}`;
  const live = `<div id="live" data-live-src="/_test/flaky/${key}" data-live-event="hello"
    data-live-get="/_test/fragment?html=${encodeURIComponent('<div id="live">swapped</div>')}" data-live-swap="innerHTML"></div>`;
  const page = await htmxPage(live);
  const requests = async () => (await (await fetch(`${server}/_test/hits/${key}`)).json()).hits.length;
  assert.equal(await requests(), 1);
  await page.evaluate((url) => {
    window.old = document.getElementById('live');
    return htmx.ajax('GET', url, { target: '#box', swap: 'innerHTML' });
  }, `/_test/fragment?html=${encodeURIComponent(live)}`);
  await page.waitForFunction(() => document.getElementById('live') !== window.old, null, { what: 'the htmx swap' });
  // Time enough for a new source to have connected, had there been one.
  await new Promise((r) => setTimeout(r, 500));
  const after = await page.evaluate(() => ({
    state: document.getElementById('live').getAttribute('data-live-state'),
    counts: [window.wiring.elements, window.wiring.connections],
  }));
  assert.deepEqual(after, { state: 'open', counts: [1, 1] });
  assert.equal(await requests(), 1, 'no second connection');
  await assertNoProblems(page);
  await page.close();
});

test('an element htmx replaces while its fragment is on its way still gets that fragment', async () => {
  // The `hello` event starts a fragment fetch that the server answers 1.5 s late; htmx swaps
  // the element's container meanwhile. The old element's request goes with it, so the element
  // that took over asks again.
  const key = `in-flight-${Date.now()}`;
  const live = `<div id="live" data-live-src="/_test/flaky/${key}" data-live-event="hello"
    data-live-get="/_test/fragment?delay=1500&html=${encodeURIComponent('<b>fresh</b>')}" data-live-swap="innerHTML">stale</div>`;
  const page = await htmxPage(live);
  await new Promise((r) => setTimeout(r, 300));
  await page.evaluate((url) => htmx.ajax('GET', url, { target: '#box', swap: 'innerHTML' }),
    `/_test/fragment?html=${encodeURIComponent(live)}`);
  await page.waitForFunction(() => document.getElementById('live')?.textContent === 'fresh', null,
    { timeout: 10_000, what: 'the fragment in the element htmx put in' });
  await assertNoProblems(page);
  await page.close();
});

test('an outerHTML fragment whose root has no data-live-* attributes stays wired, as before', async () => {
  const key = `bare-${Date.now()}`;
  const live = `<div id="live" data-live-src="/_test/flaky/${key}" data-live-event="hello"
    data-live-get="/_test/fragment?html=${encodeURIComponent('<div id="live">swapped</div>')}">first</div>`;
  const page = await browser.newPage();
  await page.goto(`${server}/health`);
  await page.evaluate(async (html) => {
    document.body.innerHTML = html;
    window.wiring = (await import('/pkg/livesource-auto.js')).default;
  }, live);
  await page.waitForFunction(() => document.getElementById('live')?.textContent === 'swapped', null,
    { what: 'the swapped-in element' });
  await new Promise((r) => setTimeout(r, 300));
  const after = await page.evaluate(() => ({
    counts: [window.wiring.elements, window.wiring.connections],
    state: document.getElementById('live').getAttribute('data-live-state'),
  }));
  assert.deepEqual(after, { counts: [1, 1], state: 'open' });
  await assertNoProblems(page);
  await page.close();
});
