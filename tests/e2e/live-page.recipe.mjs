// The Playwright recipe of docs/GUIDE.md ("Testing your live page"), as an npm user would write
// it for their own page, run by `make test` under `livesource-dev with`:
//
//   livesource-dev with --test-routes --restart -- node --test tests/e2e/live-page.recipe.mjs
//
// It uses only what `with` exports and the server's HTTP API, none of this repository's test
// support. Not a `*.test.mjs`: it kills its server on purpose, so it has one of its own rather
// than the one `node --test tests/e2e/` shares between suites (scripts/test.sh runs it alone).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core'; // yours: `playwright` or `@playwright/test`

const server = process.env.LIVESOURCE_TEST_SERVER; // the server `with` started
const origin = process.env.LIVESOURCE_TEST_ORIGIN; // an origin its CORS allows: your page's
const LIB = new URL('../../pkg/', import.meta.url); // yours: node_modules/livesource/

// ---- helpers: a token, a write, a cut stream --------------------------------------------------

// A JWT for a role (`--test-routes`). Or, without test routes: `livesource-dev token --sub t
// --role editor`, which signs with LIVESOURCE_JWT_SECRET like the server does.
async function token(role) {
  const res = await fetch(`${server}/_test/token?role=${role}`);
  assert.equal(res.status, 200, 'start the server with `livesource-dev with --test-routes`');
  return res.text();
}

// POST a document (with its own `_id`), retried while the server is down; 409 means a retry of
// a write that was stored, so each document is stored once.
async function insert(collection, doc, bearer) {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const res = await fetch(`${server}${collection}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${bearer}` },
      body: JSON.stringify(doc),
    }).catch(() => null);
    if (res && (res.status === 201 || res.status === 409)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`could not insert ${JSON.stringify(doc)}`);
}

// Kills the server mid-stream (`--test-routes`), 50 ms after it answers; `--restart` brings it
// back on the same port with the same data.
async function cutStreams() {
  const res = await fetch(`${server}/_test/exit`, { method: 'POST' });
  assert.equal(res.status, 202, 'start the server with `livesource-dev with --test-routes --restart`');
}

// ---- the page under test ------------------------------------------------------------------------

// Your page would come from your dev server (start `with` with `--cors-origin` for its origin);
// here a few lines of node:http serve it at LIVESOURCE_TEST_ORIGIN (`servePage`).
const PAGE = `<!doctype html>
<p id="state"></p><ul id="list"></ul>
<script type="module">
  import init, { LiveSource } from '/livesource/livesource.js';
  await init();
  window.states = [];
  const src = new LiveSource(${JSON.stringify(`${server}/shop/products/_streams/changes`)},
    { backoff: { initialMs: 100, maxMs: 500 } });
  src.onState((s) => { window.states.push(s); document.querySelector('#state').textContent = s; });
  src.on('change', (change) => {
    const li = document.createElement('li');
    li.textContent = change.fullDocument.name;
    document.querySelector('#list').append(li);
  });
</script>`;

// Serves the page and the library at LIVESOURCE_TEST_ORIGIN, for the length of the tests. (The
// page must really come from that address: Chromium lets only a page on loopback reach the
// server on loopback.)
async function servePage() {
  const site = createServer(async (req, res) => {
    const { pathname } = new URL(req.url, origin);
    if (pathname === '/') return res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    const type = pathname.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
    readFile(new URL(`.${pathname.replace(/^\/livesource\//, '/')}`, LIB))
      .then((body) => res.writeHead(200, { 'Content-Type': type }).end(body))
      .catch(() => res.writeHead(404).end());
  });
  const { hostname, port } = new URL(origin);
  await new Promise((resolve) => site.listen(Number(port), hostname, resolve));
  return site;
}

async function openPage(browser) {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.locator('#state', { hasText: 'open' }).waitFor();
  return page;
}

const names = (page, prefix) => page.$$eval('#list li', (lis, p) =>
  lis.map((li) => li.textContent).filter((t) => t.startsWith(p)), prefix);

// ---- the tests ------------------------------------------------------------------------------------

// Debian's Chromium here (yours: Playwright's own, `npx playwright install chromium`);
// --no-sandbox because CI containers run as root.
const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});

let site;
before(async () => { site = await servePage(); });
after(() => site?.close());

test('the live page shows an insert', async () => {
  const browser = await launch();
  try {
    const page = await openPage(browser);
    const name = `lamp-${Date.now()}`;
    await insert('/shop/products', { _id: name, name }, await token('editor'));
    await page.locator('#list li', { hasText: name }).waitFor();
  } finally {
    await browser.close();
  }
});

test('the live page shows "reconnecting" when its stream is cut, and loses nothing', async () => {
  const browser = await launch();
  try {
    const page = await openPage(browser);
    const editor = await token('editor');
    const batch = `cut-${Date.now()}`;
    await insert('/shop/products', { _id: `${batch}-1`, name: `${batch}-1` }, editor);
    await page.locator('#list li', { hasText: `${batch}-1` }).waitFor();

    await cutStreams();
    // Every state the page went through is in `window.states`: a short one cannot be missed.
    await page.waitForFunction(() => window.states.includes('reconnecting'));
    await insert('/shop/products', { _id: `${batch}-2`, name: `${batch}-2` }, editor);
    await page.locator('#list li', { hasText: `${batch}-2` }).waitFor({ timeout: 10_000 });
    assert.deepEqual(await names(page, batch), [`${batch}-1`, `${batch}-2`]);
    await page.locator('#state', { hasText: 'open' }).waitFor();
  } finally {
    await browser.close();
  }
});
