// Shared by the end-to-end tests: the server under test, the browser (one engine per run, see
// browser.mjs), tokens, what a page must show.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

export { launch, engine } from './browser.mjs';

export const server = process.env.LIVESOURCE_TEST_SERVER;
assert.ok(server, 'LIVESOURCE_TEST_SERVER is not set: run through `make test`');

// The token CLI a README reader would use, signing with the test server's secret.
export function mintToken(role = 'editor') {
  return execFileSync('target/debug/livesource-dev', ['token', '--sub', 'e2e', '--role', role],
    { encoding: 'utf8' }).trim();
}

// One token per role, minted again after 10 minutes (they live 15): minting runs a process,
// synchronously, which thousands of writes should not each pay for.
const minted = new Map();
function cachedToken(role) {
  const hit = minted.get(role);
  if (hit && Date.now() - hit.at < 10 * 60_000) return hit.token;
  const token = mintToken(role);
  minted.set(role, { token, at: Date.now() });
  return token;
}
export const editorToken = () => cachedToken('editor');

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

// Asserts that the element `selector` names (its first match, or the first one whose text
// includes `hasText`) is on screen: scrolled into view, laid out with a size, not hidden or
// transparent, and what is painted at its centre is the element (or a child of it), not
// something covering it. What a screenshot of a rendered page would show, checked.
export async function assertPainted(page, selector, what, hasText = null) {
  const problem = await page.evaluate(([sel, text]) => {
    const el = [...document.querySelectorAll(sel)].find((e) => text === null || e.textContent.includes(text));
    if (!el) return `no element ${sel}`;
    el.scrollIntoView({ block: 'center' });
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
  }, [selector, hasText]);
  assert.equal(problem, '', `${what} is not painted: ${problem}`);
}

// Waits for an element matching `selector` whose text includes `text`; returns its text.
export function waitForText(page, selector, text, timeout = 10_000) {
  return page.waitForFunction(([sel, t]) =>
    [...document.querySelectorAll(sel)].map((e) => e.textContent).find((c) => c.includes(t)),
  [selector, text], { timeout, what: `${selector} with text ${text}` });
}

// Asserts the page reported no problem (uncaught errors everywhere; console errors and failed
// responses where the engine's driver reports them).
export async function assertNoProblems(page) {
  assert.deepEqual(await page.problems(), [], 'no errors in the page');
}

// Resolves once the page's `window[name]` (a LiveSource) reports `open`.
export async function waitForOpen(page, name = 'src') {
  await page.waitForFunction((n) => window[n]?.state === 'open', name, { timeout: 10_000, polling: 20 });
}

// How many SSE responses the server has open (its `/ready`).
export async function sseClients() {
  return (await (await fetch(`${server}/ready`)).json()).sseClients;
}

// Resolves once the server has exactly `n` SSE responses open (a closed tab's stream ends when
// the server notices the socket closed).
export async function waitForSseClients(n, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  while ((last = await sseClients()) !== n) {
    if (Date.now() > deadline) throw new Error(`the server has ${last} SSE clients, not ${n}, after ${timeout} ms`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}
