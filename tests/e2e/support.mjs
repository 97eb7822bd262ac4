// Shared by the end-to-end tests: the server under test, Chromium, tokens, page error capture.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

export const server = process.env.LIVESOURCE_TEST_SERVER;
assert.ok(server, 'LIVESOURCE_TEST_SERVER is not set: run through `make test`');

export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
}

// The token CLI a README reader would use, signing with the test server's secret.
export function mintToken(role = 'editor') {
  return execFileSync('target/debug/livesource-dev', ['token', '--sub', 'e2e', '--role', role],
    { encoding: 'utf8' }).trim();
}
export const editorToken = () => mintToken('editor');

export async function insertProduct(fields) {
  const res = await fetch(`${server}/shop/products`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${editorToken()}` },
    body: JSON.stringify(fields),
  });
  const body = await res.text();
  assert.equal(res.status, 201, body);
  return JSON.parse(body);
}

// Collects uncaught errors and console errors; a bad wasm-opt or a broken module shows up here.
// Failed responses are listed by URL (the console's "Failed to load resource" names none);
// the browser's own favicon probe is not the page's doing.
export function watchProblems(page) {
  const problems = [];
  page.on('pageerror', e => problems.push(`pageerror: ${e.message}`));
  page.on('console', m => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on('response', r => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      problems.push(`HTTP ${r.status()}: ${r.url()}`);
    }
  });
  return problems;
}

// Asserts that `locator`'s element is on screen: scrolled into view, laid out with a size, not
// hidden or transparent, and what is painted at its centre is the element (or a child of it),
// not something covering it. What a screenshot of a rendered page would show, checked.
export async function assertPainted(locator, what) {
  await locator.scrollIntoViewIfNeeded();
  const problem = await locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return `its box is ${r.width}×${r.height}`;
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.visibility !== 'visible' || s.display === 'none' || Number(s.opacity) === 0) {
        return `${e.tagName} has visibility ${s.visibility}, display ${s.display}, opacity ${s.opacity}`;
      }
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return el.contains(hit) ? '' : `covered by ${hit ? hit.outerHTML.slice(0, 80) : 'nothing'}`;
  });
  assert.equal(problem, '', `${what} is not painted: ${problem}`);
}

// Resolves once the page's `window[name]` (a LiveSource) reports `open`.
export async function waitForOpen(page, name = 'src') {
  await page.waitForFunction((n) => window[n]?.state === 'open', name, { timeout: 10_000, polling: 20 });
}
