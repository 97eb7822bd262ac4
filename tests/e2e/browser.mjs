// One browser harness for the end-to-end tests, with three engines behind it:
//   chromium  Debian's Chromium through Playwright (playwright-core, CDP);
//   firefox   Firefox ESR through puppeteer-core over WebDriver BiDi;
//   webkit    WebKitGTK's MiniBrowser through WebKitWebDriver (classic WebDriver, via
//             selenium-webdriver), on an Xvfb display of its own: it has no headless mode.
// `LIVESOURCE_ENGINE` picks one (default chromium); `make test` runs the suites once per engine.
//
// A page offers what the tests need and every engine can do: go to a URL and back, evaluate a
// function in the page (its value must be JSON), wait for a condition, read and drive the DOM,
// and report the page's uncaught errors. Functions are sent as source text, so they see only their
// arguments, as with Playwright's `page.evaluate`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const ENGINES = ['chromium', 'firefox', 'webkit'];
export const engine = process.env.LIVESOURCE_ENGINE || 'chromium';
if (!ENGINES.includes(engine)) throw new Error(`LIVESOURCE_ENGINE=${engine}: expected one of ${ENGINES.join(', ')}`);

// The longest a WebKitWebDriver command may take: above the script timeout (120 s) that bounds
// an evaluation.
const COMMAND_MS = 150_000;

const WEBKIT_DIRS = ['/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1', '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1'];

// Installed in every page before its own scripts where the engine allows (Chromium, Firefox),
// else right after load (WebKit's classic WebDriver has no preload scripts): uncaught errors
// and rejections land in `window.__problems`.
const CAPTURE = `(() => {
  if (window.__problems) return;
  window.__problems = [];
  addEventListener('error', (e) => window.__problems.push('pageerror: ' + (e.message || e.type)));
  addEventListener('unhandledrejection', (e) => window.__problems.push('pageerror: unhandled rejection: ' + String(e.reason && e.reason.message || e.reason)));
})();`;

export async function launch({ chromiumArgs = [] } = {}) {
  if (engine === 'chromium') return launchChromium(chromiumArgs);
  if (engine === 'firefox') return launchFirefox();
  return launchWebKit();
}

// ---- Chromium (Playwright) ------------------------------------------------------------------

async function launchChromium(extraArgs) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
  });
  const context = await browser.newContext();
  return eventPages(browser, async () => {
    const page = await context.newPage();
    await page.addInitScript(CAPTURE);
    return page;
  });
}

// A browser whose pages report problems as events (Playwright's and puppeteer's, alike): `open`
// makes a page with CAPTURE installed before the page's own scripts.
function eventPages(browser, open) {
  return {
    engine,
    async newPage() {
      const page = await open();
      const problems = watchProblems(page);
      return wrap({
        goto: (url) => page.goto(url).then(() => {}),
        // `history.back()` from the page; the caller waits for the page it goes back to.
        back: () => page.evaluate(() => { setTimeout(() => history.back(), 0); }),
        evaluate: (fn, arg) => page.evaluate(fn, arg),
        reportedProblems: () => problems,
        close: () => page.close(),
        raw: page,
      });
    },
    close: () => browser.close(),
    raw: browser,
  };
}

// Page errors, console errors and failed responses, as Playwright's and puppeteer's pages report
// them (the same events on both).
function watchProblems(page) {
  const problems = [];
  // Firefox reports each EventSource connection it could not (re)establish — every drop a test
  // server makes on purpose — through the driver as a page error. It is the browser's network
  // log, not an exception in the page's code: it is filed with the console errors. A
  // cross-origin one may read "CORS request did not succeed" instead (Firefox's name for a
  // connection that failed at the network level: CI saw it once for a raw EventSource).
  const networkLog = /^Firefox can.t establish a connection to the server|^Cross-Origin Request Blocked: .*\(Reason: CORS request did not succeed\)/;
  page.on('pageerror', (e) => problems.push(
    networkLog.test(e.message) ? `console: ${e.message}` : `pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

// ---- Firefox (puppeteer-core, WebDriver BiDi) -----------------------------------------------

async function launchFirefox() {
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    // No network but loopback here: nothing may reach out at startup.
    extraPrefsFirefox: {
      'network.proxy.type': 0,
      'app.update.enabled': false,
      'browser.safebrowsing.malware.enabled': false,
      'browser.safebrowsing.phishing.enabled': false,
      'datareporting.healthreport.uploadEnabled': false,
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
    },
  });
  return eventPages(browser, async () => {
    const page = await browser.newPage();
    await page.evaluateOnNewDocument(CAPTURE);
    return page;
  });
}

// ---- WebKitGTK (WebKitWebDriver) ------------------------------------------------------------

async function launchWebKit() {
  const { Builder } = await import('selenium-webdriver');
  const dir = WEBKIT_DIRS.find((d) => existsSync(`${d}/MiniBrowser`));
  if (!dir) throw new Error('WebKitGTK MiniBrowser not found: install webkit2gtk-driver (make test does)');
  const display = process.env.DISPLAY || await startXvfb();
  const port = await freePort();
  // A process group of its own (the driver and the MiniBrowser it starts), so that closing can
  // kill both when the driver no longer answers.
  const driverProcess = spawn('WebKitWebDriver', [`--port=${port}`, '--host=127.0.0.1'], {
    env: { ...process.env, DISPLAY: display.name ?? display },
    stdio: 'ignore',
    detached: true,
  });
  // Its own group no longer gets the terminal's Ctrl-C or the runner's kill: this process
  // passes them on, so no driver or browser outlives the run.
  const killGroup = () => { try { process.kill(-driverProcess.pid, 'SIGKILL'); } catch { /* gone */ } };
  const killAll = () => { killGroup(); display.stop?.(); };
  // On a signal, exit as the default would, unless someone else (a test runner) handles it.
  const onSignal = (signal) => {
    killAll();
    if (process.listenerCount(signal) === 0) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  const forget = () => {
    process.off('exit', killAll);
    for (const signal of ['SIGINT', 'SIGTERM']) process.off(signal, onSignal);
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, onSignal);
  await waitForPort(port, 10_000);
  const driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}`)
    .withCapabilities({
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: `${dir}/MiniBrowser`, args: ['--automation'] },
    })
    .build();
  await driver.manage().setTimeouts({ script: 120_000 });
  // WebDriver drives one window at a time: each page is a window, and every call switches to
  // its page first, one call at a time. A call the driver never answers would hold up every
  // call after it, and the run with them, for ever (it happened once in a full run): past
  // COMMAND_MS it fails, and so does every later call on this browser, at once.
  let queue = Promise.resolve();
  let hung = null;
  const serial = (f) => {
    const guarded = () => {
      if (hung) throw hung;
      let timer;
      const deadline = new Promise((_, fail) => {
        timer = setTimeout(() => {
          hung = new Error(`WebKitWebDriver answered no command in ${COMMAND_MS / 1000} s: this browser is given up`);
          fail(hung);
        }, COMMAND_MS);
      });
      return Promise.race([f(), deadline]).finally(() => clearTimeout(timer));
    };
    const run = queue.then(guarded, guarded);
    queue = run.catch(() => {});
    return run;
  };
  let first = (await driver.getAllWindowHandles())[0];
  return {
    engine,
    async newPage() {
      const handle = await serial(async () => {
        if (first) {
          const h = first;
          first = null;
          return h;
        }
        await driver.switchTo().newWindow('tab');
        return driver.getWindowHandle();
      });
      const on = (f) => serial(async () => {
        await driver.switchTo().window(handle);
        return f();
      });
      const evaluate = (fn, arg) => on(async () => {
        const reply = await driver.executeAsyncScript(
          `const done = arguments[arguments.length - 1];
           Promise.resolve().then(() => (${fn.toString()})(arguments[0]))
             .then((value) => done({ value: value === undefined ? null : value }),
                   (e) => done({ error: String((e && e.stack) || e) }));`, arg === undefined ? null : arg);
        if (reply && 'error' in reply) throw new Error(`in the page: ${reply.error}`);
        return reply.value;
      });
      return wrap({
        goto: (url) => on(async () => {
          await driver.get(url);
          await driver.executeScript(CAPTURE);
        }),
        // The driver's own Back, which returns once the page is shown: a script evaluated while
        // WebKit navigates can go unanswered for ever, past the script timeout (it hung the
        // run, 1 in 4 times, when a test polled the page during `history.back()`).
        back: () => on(async () => {
          await driver.navigate().back();
          await driver.executeScript(CAPTURE);
        }),
        evaluate,
        reportedProblems: () => [],
        close: () => on(async () => {
          const handles = await driver.getAllWindowHandles();
          if (handles.length > 1) {
            await driver.close();
            await driver.switchTo().window(handles.find((h) => h !== handle));
          } else {
            await driver.get('about:blank');
          }
        }),
        raw: driver,
      });
    },
    async close() {
      if (!hung) {
        await Promise.race([driver.quit().catch(() => {}), new Promise((ok) => setTimeout(ok, 10_000))]);
      }
      killAll();
      forget();
    },
    raw: driver,
  };
}

async function startXvfb() {
  for (let n = 90 + Math.floor(Math.random() * 400), tries = 0; tries < 20; n++, tries++) {
    if (existsSync(`/tmp/.X${n}-lock`)) continue;
    const xvfb = spawn('Xvfb', [`:${n}`, '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    const up = await new Promise((ok) => {
      const t = setInterval(() => { if (existsSync(`/tmp/.X11-unix/X${n}`)) { clearInterval(t); ok(true); } }, 20);
      xvfb.once('exit', () => { clearInterval(t); ok(false); });
      setTimeout(() => { clearInterval(t); ok(existsSync(`/tmp/.X11-unix/X${n}`)); }, 5000);
    });
    if (up) return { name: `:${n}`, stop: () => xvfb.kill() };
    xvfb.kill();
  }
  throw new Error('could not start Xvfb (install xvfb; make test does)');
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    }).on('error', fail);
  });
}

async function waitForPort(port, timeoutMs) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise((ok) => {
      const c = connect(port, '127.0.0.1', () => { c.end(); ok(true); }).on('error', () => ok(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not listen on ${port}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

// ---- what every engine's page offers --------------------------------------------------------

function wrap(base) {
  const page = {
    engine,
    raw: base.raw,
    goto: base.goto,
    back: base.back,
    evaluate: base.evaluate,
    close: base.close,
    // Polls `fn(arg)` in the page until it returns something truthy, and returns that.
    async waitForFunction(fn, arg, { timeout = 10_000, polling = 50, what } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const value = await base.evaluate(fn, arg);
        if (value) return value;
        if (Date.now() > deadline) {
          throw new Error(`timed out after ${timeout} ms waiting for ${what || fn.toString().slice(0, 160)}`);
        }
        await new Promise((ok) => setTimeout(ok, polling));
      }
    },
    waitForSelector(selector, { timeout = 10_000 } = {}) {
      return page.waitForFunction((s) => !!document.querySelector(s), selector, { timeout, what: `selector ${selector}` });
    },
    textContent(selector) {
      return base.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
    },
    getAttribute(selector, name) {
      return base.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name]);
    },
    click(selector) {
      return base.evaluate((s) => {
        const el = document.querySelector(s);
        if (!el) throw new Error(`no element ${s}`);
        el.click();
      }, selector);
    },
    // Sets an input's value as typing would, so `input` and `change` listeners run.
    fill(selector, value) {
      return base.evaluate(([s, v]) => {
        const el = document.querySelector(s);
        if (!el) throw new Error(`no element ${s}`);
        el.focus();
        el.value = v;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
      }, [selector, value]);
    },
    // Runs `content` as a classic script in the page, as a `<script>` tag would.
    addScript(content) {
      return base.evaluate((c) => {
        const script = document.createElement('script');
        script.textContent = c;
        document.head.append(script);
      }, content);
    },
    // Uncaught errors in the page (every engine) and, where the driver reports them, console
    // errors and failed responses (Chromium, Firefox).
    async problems() {
      const inPage = await base.evaluate(() => window.__problems || []).catch(() => []);
      const reported = base.reportedProblems();
      return [...reported, ...inPage.filter((p) => !reported.includes(p))];
    },
  };
  return page;
}
