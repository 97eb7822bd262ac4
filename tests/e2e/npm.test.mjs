// The npm package as a user meets it: `npm pack ./pkg`, installed into a scratch app
// (tests/npm-app), type-checked with tsc both ways, built with Vite, and run in each engine
// against the real livesource-dev. The packing and type checks involve no browser, so they run
// once, in the Chromium pass.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, resolve } from 'node:path';
import { server, engine, launch, insertProduct, assertNoProblems, waitForText } from './support.mjs';

const once = engine === 'chromium' ? {} : { skip: 'no browser involved: runs once, in the chromium pass' };

const app = 'tests/npm-app';
const bin = (name) => resolve('node_modules/.bin', name);
const tmp = mkdtempSync(join(tmpdir(), 'livesource-npm-'));
let packed;

before(() => {
  const out = execFileSync('npm', ['pack', './pkg', '--json', '--pack-destination', tmp], { encoding: 'utf8' });
  [packed] = JSON.parse(out);
  console.log(`packed ${packed.filename}: ${packed.size} bytes (${packed.unpackedSize} unpacked), ${packed.files.length} files`);
  execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
    join(tmp, packed.filename)], { cwd: app, stdio: 'inherit' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the tarball holds the package and nothing else', once, () => {
  const files = packed.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'livesource.js', 'livesource.d.ts', 'livesource-auto.js',
    'livesource_wasm.js', 'livesource_wasm_bg.wasm', 'LICENSE-MIT', 'LICENSE-APACHE']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  const stray = files.filter((f) => /\.(map|rs|toml)$|(^|\/)tests?\/|\.env|secret/i.test(f));
  assert.deepEqual(stray, [], 'no source maps, sources, tests or secrets');
  const manifest = JSON.parse(readFileSync('pkg/package.json', 'utf8'));
  const cargoVersion = readFileSync('Cargo.toml', 'utf8').match(/^\[package\][^[]*?^version = "([^"]*)"/m)[1];
  assert.equal(manifest.version, cargoVersion, 'the npm version is the crate version');
  assert.equal(manifest.type, 'module');
  assert.deepEqual(Object.keys(manifest.exports), ['.', './auto', './livesource_wasm_bg.wasm', './package.json']);
});

test('the typings accept correct use', once, () => {
  const r = spawnSync(bin('tsc'), ['--noEmit', '-p', app], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the entry declares every public name of the generated declarations, and nothing internal', once, () => {
  // A type added to src/js/types.d.ts must be listed in src/js/livesource.d.ts too.
  const internal = new Set(['start', 'InitOutput', 'InitInput', 'SyncInitInput', 'initSync', '__wbg_init']);
  const generated = [...readFileSync('pkg/livesource_wasm.d.ts', 'utf8')
    .matchAll(/^export (?:default )?(?:declare )?(?:type|interface|class|function) (\w+)/gm)].map((m) => m[1]);
  const entry = readFileSync('pkg/livesource.d.ts', 'utf8');
  const listed = new Set([...entry.matchAll(/^export (?:type )?\{([^}]*)\}/gm)]
    .flatMap((m) => m[1].split(',').map((n) => n.trim()).filter(Boolean)));
  assert.deepEqual([...new Set(generated.filter((n) => !internal.has(n)))].sort(), [...listed].sort());
});

test('the typings reject each mistake in types-bad.ts', once, () => {
  const r = spawnSync(bin('tsc'), ['--noEmit', '--strict', '--target', 'ES2022', '--module', 'ESNext',
    '--moduleResolution', 'Bundler', '--lib', 'ES2022,DOM', `${app}/src/types-bad.ts`], { encoding: 'utf8' });
  assert.notEqual(r.status, 0, 'the wrong example must not compile');
  const lines = new Set([...r.stdout.matchAll(/types-bad\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])));
  const mistakes = readFileSync(`${app}/src/types-bad.ts`, 'utf8').split('\n')
    .map((l, i) => (/^(src|new|void)/.test(l) ? i + 1 : 0)).filter(Boolean);
  assert.deepEqual([...lines].sort((a, b) => a - b), mistakes, r.stdout);
});

test('a Vite build finds the wasm and runs live in the browser', async () => {
  const dist = join(tmp, 'dist');
  execFileSync(bin('vite'), ['build', app, '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'],
    { env: { ...process.env, VITE_LIVESOURCE_SERVER: server }, stdio: 'inherit' });
  const assets = readdirSync(join(dist, 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the bundler emitted the wasm: ${assets}`);

  // Served from the one origin the test server allows for CORS.
  const [host, port] = process.env.WASM_BINDGEN_TEST_ADDRESS.split(':');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const http = createServer((req, res) => {
    const path = req.url === '/' ? '/index.html' : req.url.split('?')[0];
    try {
      const body = readFileSync(join(dist, path.replace(/\.\.+/g, '')));
      res.writeHead(200, { 'Content-Type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => http.listen(Number(port), host, ok));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`http://${host}:${port}/`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open');
    const name = `npm-app-${Date.now()}`;
    await insertProduct({ name });
    await waitForText(page, '#items li', name);
    await assertNoProblems(page);
  } finally {
    await browser.close();
    http.close();
  }
});
