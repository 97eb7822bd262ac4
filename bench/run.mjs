// `make bench`: each figure next to its baseline measured in the same run (only ratios hold on a
// noisy machine), written to BENCHMARKS.md and printed. Benchmarks assert nothing about speed,
// but a scenario that breaks (wrong state, lost events) fails the run.
//
// Throughput pages run in a plain headless Chromium launched on the page (no DevTools attached:
// that alone costs about 4x) and POST their results back here.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';

const quick = process.argv.includes('--quick');
const seconds = quick ? 0.3 : 1.5;
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

// ---- a static server for bench pages, with the result endpoint -------------------------------

const roots = { '/pkg/': 'pkg/', '/npm/fast-json-patch/': 'node_modules/fast-json-patch/', '/bench/pages/': 'bench/pages/' };
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const waiting = new Map();

const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname.startsWith('/bench/result/')) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      waiting.get(url.pathname.slice('/bench/result/'.length))?.(JSON.parse(body));
      res.writeHead(204).end();
    });
    return;
  }
  if (url.pathname === '/bench/stream') {
    // P1's stream: `count` events of about 200 B JSON with ids, written as fast as node can.
    const count = Number(url.searchParams.get('count'));
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const pad = 'x'.repeat(150);
    let chunk = '';
    for (let i = 0; i < count; i++) {
      chunk += `event: item\nid: ${i + 1}\ndata: {"n":${i},"name":"item ${i}","pad":"${pad}"}\n\n`;
      if (chunk.length > 1 << 20) { res.write(chunk); chunk = ''; }
    }
    res.write(chunk);
    return; // held open: the clients close when they have every event
  }
  if (url.pathname === '/bench/idle') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 60000\n\n');
    return;
  }
  for (const [prefix, dir] of Object.entries(roots)) {
    if (url.pathname.startsWith(prefix)) {
      const file = normalize(join(dir, url.pathname.slice(prefix.length)));
      if (!file.startsWith(dir)) break;
      try {
        res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
  }
  res.writeHead(404).end();
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

/** Opens `page` in a fresh headless Chromium and waits for the page's report. */
async function runPage(page, params = {}, timeoutMs = 120_000) {
  const id = Math.random().toString(36).slice(2);
  const profile = mkdtempSync(join(tmpdir(), 'livesource-bench-'));
  const query = new URLSearchParams({ ...params, run: id });
  const result = new Promise((ok, err) => {
    waiting.set(id, ok);
    setTimeout(() => err(new Error(`${page}: no result within ${timeoutMs} ms`)), timeoutMs).unref();
  });
  const child = spawn(chromium, ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, `${origin}/bench/pages/${page}?${query}`], { stdio: 'ignore', detached: true });
  try {
    const r = await result;
    if (!r.ok) throw new Error(`${page} broke: ${r.message}`);
    return r.result;
  } finally {
    const exited = new Promise((ok) => child.once('exit', ok));
    // The whole group: Chromium's renderer and utility processes outlive a killed parent.
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    await exited;
    await new Promise((ok) => setTimeout(ok, 100));
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  }
}

// ---- P4: what a page downloads ---------------------------------------------------------------

const gz = (files) => files.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
const jsOf = (dir) => [
  ...readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => join(dir, f)),
  ...(existsSync(join(dir, 'snippets'))
    ? readdirSync(join(dir, 'snippets'), { recursive: true }).filter((f) => f.endsWith('.js')).map((f) => join(dir, 'snippets', f))
    : []),
];

function buildCore() {
  // The same build as pkg/ without the `patch` feature: connection, listeners, fragments, auto.
  const out = 'target/bench/core-pkg';
  execFileSync('wasm-pack', ['build', '--target', 'web', '--profile', 'wasm-release', '--no-opt',
    '--out-dir', out, '--out-name', 'livesource_wasm', '--', '--no-default-features'], { stdio: 'ignore' });
  execFileSync('node_modules/.bin/wasm-opt', ['-Oz', `${out}/livesource_wasm_bg.wasm`, '-o', `${out}/livesource_wasm_bg.wasm`]);
  for (const f of ['livesource.js', 'livesource-auto.js']) cpSync(`js/${f}`, `${out}/${f}`);
  return out;
}

function sizes() {
  const core = buildCore();
  const full = 'pkg';
  const bytes = (dir) => gz([join(dir, 'livesource_wasm_bg.wasm'), ...jsOf(dir)]);
  const baseline = gz(['node_modules/htmx.org/dist/htmx.min.js', 'node_modules/htmx-ext-sse/dist/sse.min.js',
    'node_modules/fast-json-patch/dist/fast-json-patch.min.js']);
  return { core: bytes(core), full: bytes(full), baseline };
}

// ---- the run ---------------------------------------------------------------------------------

const rows = [];
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

try {
  const p4 = sizes();
  rows.push(['P4', 'download, gzip -9: core (wasm + JS + auto)', `${fmt(p4.core)} B`, `${fmt(p4.baseline)} B (htmx 2 + htmx-ext-sse + fast-json-patch)`, ratio(p4.core, p4.baseline), '≤ 21.7 KB', p4.core <= 21_700 ? 'met' : 'missed']);
  rows.push(['P4', 'download, gzip -9: with JSON-Patch', `${fmt(p4.full)} B`, `${fmt(p4.baseline)} B`, ratio(p4.full, p4.baseline), '≤ 45 KB', p4.full <= 45_000 ? 'met' : 'missed']);

  const p1 = await runPage('p1.html', { count: quick ? 20_000 : 100_000, rounds: quick ? 3 : 5, stream: '/bench/stream?count=' + (quick ? 20_000 : 100_000) });
  if (process.env.BENCH_VERBOSE) console.log(JSON.stringify(p1.all));
  rows.push(['P1', `events/s to a listener, ${quick ? '20k' : '100k'} events of ~200 B JSON (median of ${p1.rounds})`, fmt(p1.livesource),
    `${fmt(p1.raw)} raw EventSource + JSON.parse`, ratio(p1.livesource, p1.raw), '≥ 0.95×', p1.livesource >= 0.95 * p1.raw ? 'met' : 'missed']);

  const p2 = await runPage('p2.html', { seconds });
  for (const n of ['100', '10000']) {
    const r = p2[n];
    rows.push(['P2', `JSON-Patch, 4-op patches, ${n} rows, patches/s (atomic)`, fmt(r.livesource),
      `${fmt(r.inPlace)} fast-json-patch in place; ${fmt(r.atomicCopy)} atomic copy`,
      `${ratio(r.livesource, r.inPlace)} / ${ratio(r.livesource, r.atomicCopy)}`, '≥ 1.0× in place',
      r.livesource >= r.inPlace ? 'met' : 'missed']);
  }
} finally {
  server.close();
}

const chromiumVersion = execFileSync(chromium, ['--version'], { encoding: 'utf8' }).trim();
const header = [
  '# Benchmarks',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} by \`make bench${quick ? ' --quick' : ''}\` on ${cpus().length} cores (${cpus()[0].model.trim()}), ${chromiumVersion}.`,
  'Every figure is next to its baseline from the same run; only the ratios are comparable between runs.',
  'P1 streams from the bench harness itself, not yet from livesource-dev. Scenarios not listed (P3, P5, P6, P7) are not implemented yet.',
  '',
  '| id | scenario | livesource | baseline (same run) | ratio | target | |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];
const table = [...header, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
if (!quick) writeFileSync('BENCHMARKS.md', `${table}\n`);
console.log(table);
