// End to end: the release pkg/ (optimised by npm binaryen's wasm-opt) served by a real
// livesource-dev, loaded by real headless Chromium, updating live after an HTTP POST.
// Run by `make test` through scripts/with-server.sh, which sets LIVESOURCE_TEST_SERVER.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const server = process.env.LIVESOURCE_TEST_SERVER;
assert.ok(server, 'LIVESOURCE_TEST_SERVER is not set: run through `make test`');

let browser;
const shots = mkdtempSync(join(tmpdir(), 'livesource-shots-'));

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  rmSync(shots, { recursive: true, force: true });
});

// The token CLI a README reader would use, signing with the test server's secret.
function editorToken() {
  return execFileSync('target/debug/livesource-dev', ['token', '--sub', 'e2e', '--role', 'editor'],
    { encoding: 'utf8' }).trim();
}

test('the served wasm is the release build on disk', async () => {
  const served = Buffer.from(await (await fetch(`${server}/pkg/livesource_bg.wasm`)).arrayBuffer());
  assert.ok(served.equals(readFileSync('pkg/livesource_bg.wasm')), '/pkg/ serves pkg/');
});

test('the demo page connects and shows an inserted product live', async () => {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', e => problems.push(`pageerror: ${e.message}`));
  page.on('console', m => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });

  await page.goto(`${server}/`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });

  const name = `e2e-lamp-${Date.now()}`;
  const res = await fetch(`${server}/shop/products`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${editorToken()}` },
    body: JSON.stringify({ name, price: 39 }),
  });
  assert.equal(res.status, 201, await res.text());

  const row = page.locator('#changes li', { hasText: name });
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.getAttribute('data-op'), 'insert');
  assert.match(await row.getAttribute('data-id'), /\S/);

  const shot = join(shots, 'demo.png');
  await page.screenshot({ path: shot });
  assert.ok(statSync(shot).size > 1000, 'the screenshot is not empty');
  assert.deepEqual(problems, [], 'no errors in the page (a bad wasm-opt shows up here)');
  await page.close();
});
