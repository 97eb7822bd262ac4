// End to end: the release pkg/ (optimised by npm binaryen's wasm-opt) served by a real
// livesource-dev, loaded by real headless Chromium, updating live after an HTTP POST.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { server, launch, insertProduct, watchProblems } from './support.mjs';

let browser;
const shots = mkdtempSync(join(tmpdir(), 'livesource-shots-'));
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); rmSync(shots, { recursive: true, force: true }); });

test('the served wasm is the release build on disk', async () => {
  const served = Buffer.from(await (await fetch(`${server}/pkg/livesource_bg.wasm`)).arrayBuffer());
  assert.ok(served.equals(readFileSync('pkg/livesource_bg.wasm')), '/pkg/ serves pkg/');
});

test('the demo page connects and shows an inserted product live', async () => {
  const page = await browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${server}/`);
  await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 });

  const name = `e2e-lamp-${Date.now()}`;
  await insertProduct({ name, price: 39 });
  const row = page.locator('#changes li', { hasText: name });
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.getAttribute('data-op'), 'insert');
  assert.match(await row.getAttribute('data-id'), /\S/);

  const shot = join(shots, 'demo.png');
  await page.screenshot({ path: shot });
  assert.ok(statSync(shot).size > 1000, 'the screenshot is not empty');
  assert.deepEqual(problems, [], 'no errors in the page');
  await page.close();
});
