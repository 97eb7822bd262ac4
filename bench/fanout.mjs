// P5, server fan-out: N idle SSE clients of one patch topic on a release `livesource-dev`, held
// by the Rust load generator (bench/loadgen) spread over several processes on loopback, then
// 10 events/s broadcast. Baseline, in the same run at the same N: the peer a Rust user would
// write instead (bench/peer: axum's own `Sse` and a tokio broadcast channel), driven by the same
// load generator; and the same events to 1 client.
//
// Each step runs against a fresh server (so its RSS before the clients is a clean zero point),
// started on a free loopback port with its open-file limit raised to the hard limit and no
// per-client stream cap (each load generator process is one address). The ramp
// stops at the first N whose clients cannot all connect, and records why. A step whose
// connected clients miss, repeat or reorder an event, or whose counts disagree, throws.
//
//   node bench/fanout.mjs [--quick]       prints the rows
//   import { fanout } from './fanout.mjs'  rows for bench/run.mjs
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'target', 'release', name);
const RATE = 10;
const PROCS = 4;
const TARGET_CLIENTS = 19_000;
const TARGET_RSS = 16 * 1024;
const TARGET_P99_MS = 100;
// After the last publish, how long clients may still receive: past the p99 of a machine whose
// 2 cores are also busy with other work (seconds at 19,000 clients), so a slow round is measured
// rather than counted as lost.
const GRACE_MS = 15_000;

/** Process groups started here and not yet reaped, and temporary directories: gone on any exit. */
const live = new Set();
const temporary = new Set();
function killGroup(pid, signal) {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}
process.on('exit', () => {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratioOf = (a, b) => `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×`;
const log = (line) => process.stderr.write(`P5: ${line}\n`);

function spawnGroup(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, detached: true });
  live.add(child.pid);
  const exited = new Promise((ok) => child.once('exit', (code, signal) => { live.delete(child.pid); ok({ code, signal }); }));
  return { child, exited };
}

async function stopGroup({ child, exited }, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  killGroup(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

/** `Max open files` (soft) of a process. */
function openFileLimit(pid) {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return line ? Number(line.split(/\s+/)[3]) : NaN;
}

/** A fresh release server (`kind`: livesource or peer) on a free loopback port, with its
 * open-file limit at the hard limit. */
async function startServer(work, secret, name, kind = 'livesource') {
  const data = join(work, name);
  mkdirSync(data, { recursive: true });
  const logPath = join(work, `${name}.log`);
  const logFd = openSync(logPath, 'w');
  const command = kind === 'peer'
    ? [bin('livesource-bench-peer'), '127.0.0.1:0']
    : [bin('livesource-dev'), 'serve', '--addr', '127.0.0.1:0', '--data', data, '--heartbeat', '1h', '--write-timeout', '30s',
      // Thousands of clients from a handful of loopback addresses: the per-client cap is off.
      '--max-sse-per-client', '0'];
  // `exec` keeps the pid: it is the server's, for /proc/<pid>/status.
  const server = spawnGroup('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" || echo "fanout: could not raise the open-file limit" >&2; exec "$0" "$@"',
    ...command],
  { cwd: root, env: { ...process.env, LIVESOURCE_JWT_SECRET: secret, RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', logFd] });
  closeSync(logFd);
  const origin = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${kind} did not announce its address within 20 s`)), 20_000);
    server.child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    server.exited.then(({ code }) => { clearTimeout(timer); fail(new Error(`${kind} exited (${code}) before listening: ${readFileSync(logPath, 'utf8').slice(-500)}`)); });
  });
  return { ...server, origin, logPath, fileLimit: openFileLimit(server.child.pid) };
}

/** One run of the load generator; resolves with its JSON summary. */
async function loadgen(server, token, { clients, procs, events, srcPrefix, connectS }) {
  const args = ['run', '--server', server.origin, '--server-pid', String(server.child.pid), '--clients', String(clients),
    '--procs', String(procs), '--events', String(events), '--rate', String(RATE), '--src-prefix', srcPrefix,
    '--connect-timeout-s', String(connectS), '--grace-ms', String(GRACE_MS)];
  const run = spawnGroup(bin('livesource-loadgen'), args,
    { cwd: root, env: { ...process.env, LIVESOURCE_BENCH_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  run.child.stdout.on('data', (c) => { out += c; });
  run.child.stderr.on('data', (c) => { err = (err + c).slice(-4000); });
  // Its own bounds are connect + publish + grace; this one only catches a hang.
  const boundMs = (connectS + 2 * events / RATE + 60) * 1000;
  const timer = setTimeout(() => killGroup(run.child.pid, 'SIGKILL'), boundMs);
  const { code, signal } = await run.exited;
  clearTimeout(timer);
  const line = out.trim().split('\n').pop();
  let summary;
  try { summary = JSON.parse(line); } catch {
    throw new Error(`livesource-loadgen ${signal ? `was killed (${signal}) after ${boundMs / 1000} s` : `exited ${code}`} without a summary: ${err.trim() || out.trim()}`);
  }
  if (code === 2) throw new Error(`livesource-loadgen refused to run: ${err.trim()}`);
  summary.stderr = err.trim();
  return summary;
}

/** What the server said about accepting, for "what stopped it". */
function serverComplaints(logPath) {
  const lines = readFileSync(logPath, 'utf8').split('\n');
  const accept = lines.filter((l) => l.includes('accept failed'));
  if (accept.length === 0) return null;
  const error = /error=(.*)$/.exec(accept[0])?.[1] ?? accept[0];
  return `the server's accept failed ${fmt(accept.length)}× (${error.trim()})`;
}

function describeConnectFailure(r, server) {
  const errors = r.connectErrors.map(([m, n]) => `${fmt(n)}× ${m}`).join('; ');
  const complaint = serverComplaints(server.logPath);
  return `${fmt(r.connected)} of ${fmt(r.clients)} connected (${errors})` +
    `${complaint ? `; ${complaint}` : ''}; server open-file limit ${fmt(server.fileLimit)}`;
}

export async function fanout({ quick = false } = {}) {
  log('building release livesource-dev, the axum peer and livesource-loadgen');
  execFileSync('cargo', ['build', '--release', '-q', '-p', 'livesource-dev', '-p', 'livesource-bench-peer', '-p', 'livesource-loadgen'],
    { cwd: root, stdio: ['ignore', 2, 2] });
  const work = mkdtempSync(join(tmpdir(), 'livesource-fanout-'));
  temporary.add(work);
  const secret = randomBytes(24).toString('hex');
  const token = execFileSync(bin('livesource-dev'), ['token', '--sub', 'fanout-bench', '--role', 'editor', '--ttl', '1h', '--data', join(work, 'token')],
    { env: { ...process.env, LIVESOURCE_JWT_SECRET: secret }, encoding: 'utf8' }).trim();
  const events = quick ? 20 : 50;
  const steps = quick ? [1_000] : [1_000, 5_000, 10_000, 19_000, 19_500, 20_000];
  let stepIndex = 0;

  const step = async (clients, procs, kind = 'livesource') => {
    stepIndex += 1;
    const server = await startServer(work, secret, `step-${stepIndex}`, kind);
    try {
      const r = await loadgen(server, token, {
        clients, procs, events, srcPrefix: `127.0.${stepIndex}`, connectS: quick ? 20 : 40,
      });
      r.server = server;
      r.load = loadavg()[0];
      if (r.ok) {
        log(`${kind} ${fmt(clients)} clients (${procs} processes): connected in ${(r.connectMs / 1000).toFixed(1)} s, ` +
          `RSS ${fmt(r.rssBeforeKb)} → ${fmt(r.rssIdleKb)} kB (${(r.rssPerConnBytes / 1024).toFixed(1)} KB/conn), ` +
          `${fmt(r.received)} events received, p50 ${ms(r.p50Ms)} ms, p99 ${ms(r.p99Ms)} ms, max ${ms(r.maxMs)} ms, ` +
          `CPU per delivery: server ${(r.serverCpuMs * 1000 / r.received).toFixed(1)} µs, loadgen ${(r.loadgenCpuMs * 1000 / r.received).toFixed(1)} µs, ` +
          `server ran ${(r.serverCpuMs / 1000).toFixed(1)} s and waited ${((r.serverRunqueueWaitMs ?? NaN) / 1000).toFixed(1)} s for a CPU, load avg ${r.load.toFixed(1)}`);
      } else {
        log(`${kind} ${fmt(clients)} clients: ${r.failureKind ?? 'error'}: ${r.failure}${r.stderr ? ` (loadgen: ${r.stderr.slice(-300)})` : ''}`);
      }
      return r;
    } finally {
      await stopGroup(server, 3000);
    }
  };

  try {
    const base = await step(1, 1);
    if (!base.ok) throw new Error(`P5 baseline (1 client) broke: ${base.failure}`);
    let best = null;
    let first = null;
    let stopped = null;
    const held = new Map();
    const r10k = (n) => held.get(n);
    const met = (ok) => (ok ? 'met' : 'missed');
    // The peer at each N livesource held, in the same run: the largest that works, and each N.
    const peers = new Map();
    let peerBest = null;
    let peerStopped = null;
    // Which server goes first alternates from step to step: on a busy machine, whatever else
    // runs drifts over minutes, and neither server should always get the quieter half.
    const pair = async (n, peerFirst, again = false) => {
      const runPeer = async () => (peerStopped && !again ? null : step(n, PROCS, 'peer'));
      if (peerFirst) {
        const p = await runPeer();
        return [await step(n, PROCS), p];
      }
      const r = await step(n, PROCS);
      return [r, await runPeer()];
    };
    for (const [i, n] of steps.entries()) {
      const [r, p] = await pair(n, i % 2 === 1);
      if (p) {
        if (p.ok) {
          peers.set(n, p);
          peerBest = p;
        } else {
          peerStopped = `at ${fmt(n)}: ${p.failureKind === 'connect' ? describeConnectFailure(p, p.server) : p.failure}`;
        }
      }
      if (r.ok) {
        best = r;
        first ??= r;
        held.set(n, r);
        continue;
      }
      if (r.failureKind === 'connect' && best) {
        stopped = `at ${fmt(n)}: ${describeConnectFailure(r, r.server)}`;
        break;
      }
      // Lost or repeated events, wrong counts, or not even the first step: the scenario broke.
      throw new Error(`P5 broke at ${fmt(n)} clients: ${r.failure}` +
        `${r.failureKind === 'connect' ? ` (${describeConnectFailure(r, r.server)})` : ''}`);
    }
    stopped ??= `not reached: the ramp ends at ${fmt(steps.at(-1))}`;
    peerStopped ??= `not reached: the ramp ends at ${fmt(steps.at(-1))}`;
    log(`largest N that works: livesource ${fmt(best.clients)} (stopped ${stopped}); peer ${peerBest ? fmt(peerBest.clients) : 'none'} (stopped ${peerStopped})`);
    const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
    const secs = (v) => (v == null ? '?' : `${(v / 1000).toFixed(1)} s`);
    const us = (cpuMs, deliveries) => `${(cpuMs * 1000 / deliveries).toFixed(1)} µs`;
    // CPU seconds per second of broadcasting at the target rate, server and load generator.
    const cores = (r) => ((r.serverCpuMs + r.loadgenCpuMs) / r.received * r.clients * RATE / 1000).toFixed(2);
    // Of the machine's cores, what the load generator itself used while events flowed.
    const loadgenCores = (r) => (r.loadgenCpuMs / (events / RATE * 1000)).toFixed(2);
    const peer = peers.get(best.clients);
    const vsPeer = (unit) => (peer ? `${unit(peer)} (axum + broadcast peer, same N)` : 'the peer did not hold this N');
    const ratioToPeer = (f) => (peer ? `${(f(best) / f(peer)).toFixed(2)}×` : '—');
    const rows = [
      ['P5', `server fan-out: largest N of idle SSE clients (${PROCS} loadgen processes) that all got ${events} events at ${RATE}/s; what stopped the ramp: ${stopped}; the peer: ${peerStopped}`,
        `${fmt(best.clients)} clients`, `${peerBest ? fmt(peerBest.clients) : 'none'} clients (axum + broadcast peer)`,
        peerBest ? `${(best.clients / peerBest.clients).toFixed(2)}×` : '—', `≥ ${fmt(TARGET_CLIENTS)}`, best.clients >= TARGET_CLIENTS ? 'met' : 'missed'],
      ['P5', `server RSS per idle SSE connection at ${fmt(best.clients)} clients (VmRSS after − before, ÷ N); livesource at ${fmt(first.clients)}: ${kb(first.rssPerConnBytes)}`,
        kb(best.rssPerConnBytes), vsPeer((p) => kb(p.rssPerConnBytes)), ratioToPeer((r) => r.rssPerConnBytes),
        '≤ 16 KB', best.rssPerConnBytes <= TARGET_RSS ? 'met' : 'missed'],
      ['P5', `publish→receipt at ${fmt(best.clients)} clients, p50 / p99 (${fmt(best.samples)} deliveries); 1 client: ${ms(base.p50Ms)} / ${ms(base.p99Ms)} ms`,
        `${ms(best.p50Ms)} / ${ms(best.p99Ms)} ms`, vsPeer((p) => `${ms(p.p50Ms)} / ${ms(p.p99Ms)} ms`),
        peer ? `${(best.p50Ms / peer.p50Ms).toFixed(2)}× / ${(best.p99Ms / peer.p99Ms).toFixed(2)}×` : '—',
        `≤ ${TARGET_P99_MS} ms p99`, best.p99Ms <= TARGET_P99_MS ? 'met' : 'missed'],
      ['P5', `CPU per delivery at ${fmt(best.clients)} clients, server (load generator: ${us(best.loadgenCpuMs, best.received)}, ${loadgenCores(best)} of the machine's ${cpus().length} cores while events flowed); ` +
        `so ${fmt(best.clients)} × ${RATE}/s needs ${cores(best)} cores in all; the server's threads ran ${secs(best.serverCpuMs)} and waited ${secs(best.serverRunqueueWaitMs)} for a CPU (load average ${best.load.toFixed(1)})`,
        us(best.serverCpuMs, best.received), vsPeer((p) => us(p.serverCpuMs, p.received)), ratioToPeer((r) => r.serverCpuMs / r.received), '—', '—'],
    ];
    // The p99 target against the peer, at 10,000 and 19,000 clients: the ramp's pair and a
    // second pair in the other order; the ratio is of the means over the pairs where both
    // servers delivered every event (a pair where one did not is named, not dropped silently).
    for (const n of quick ? [] : [10_000, 19_000]) {
      const r = r10k(n);
      if (!r) continue;
      const p1 = peers.get(n);
      if (!p1) {
        rows.push(['P5', `p99 publish→receipt at ${fmt(n)} clients, against the peer at the same N`, `${ms(r.p99Ms)} ms`,
          'the peer did not hold this N', '—', '≤ 1.0× the peer', 'missed']);
        continue;
      }
      const pairs = [[r, p1], await pair(n, steps.indexOf(n) % 2 === 0, true)];
      const whole = pairs.filter(([a, b]) => a.ok && b?.ok);
      const show = (x) => (x?.ok ? `${ms(x.p99Ms)}` : `— (${x ? `${fmt(x.received)} of ${fmt(x.expected || x.clients * events)} events` : 'not run'})`);
      const mean = (k) => whole.reduce((acc, pr) => acc + pr[k].p99Ms, 0) / whole.length;
      const broken = pairs.length - whole.length;
      rows.push(['P5', `p99 publish→receipt at ${fmt(n)} clients, against the peer at the same N (${pairs.length} rounds, order alternated; ratio of the means over ${whole.length} round${whole.length === 1 ? '' : 's'} where both delivered every event${broken ? `; ${broken} round where one did not within ${GRACE_MS / 1000} s` : ''})`,
        `${pairs.map(([a]) => show(a)).join(' and ')} ms`, `${pairs.map(([, b]) => show(b)).join(' and ')} ms (axum + broadcast peer)`,
        whole.length ? `${(mean(0) / mean(1)).toFixed(2)}×` : '—', '≤ 1.0× the peer', whole.length ? met(mean(0) <= mean(1)) : 'missed']);
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true, maxRetries: 5 });
    temporary.delete(work);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
  try {
    const rows = await fanout({ quick: process.argv.includes('--quick') });
    console.log('| id | scenario | livesource | baseline (same run) | ratio | target | |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } catch (e) {
    console.error(`fanout: ${e.message}`);
    process.exitCode = 1;
  }
}
