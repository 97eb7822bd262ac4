// Where the wasm's download goes, by crate: how much of it is the library's own code and messages,
// and how much the Rust runtime (core, alloc, std, the allocator) and wasm-bindgen's. Issue 15
// asks for a 40 KB core; this is the measure that says what a lever can still take off.
//
//   node scripts/size-parts.mjs            # the core build (no JSON-Patch) and the npm build
//
// Each build is the package's (`--profile wasm-release`, feature `npm`), passed through
// wasm-bindgen and `wasm-opt -Oz --converge` as scripts/optimize-wasm.mjs does, but with `-g` so the
// function names stay. Every function body goes to a group by the crate of its name (the
// wasm-bindgen export shims, which hold the exported methods' inlined bodies, count as the
// library's). A group's figure is its bodies' gzip -9 on their own; the groups' sum is larger than
// the whole, which gzips across groups, so the two headline figures are measured directly: the
// library's own bodies with the data segments (its messages, and the runtime's few strings), and
// the runtime's bodies alone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const gz = (parts) => gzipSync(Buffer.concat(parts), { level: 9 }).length;

/** The function bodies (with their names) and data segments of a wasm with a name section. */
export function sections(buf) {
  let p = 8;
  const leb = () => {
    let r = 0;
    let shift = 0;
    let b;
    do {
      b = buf[p++];
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  };
  const skipLimits = () => {
    const flags = buf[p++];
    leb();
    if (flags & 1) leb();
  };
  let imported = 0;
  const bodies = [];
  const data = [];
  const names = new Map();
  while (p < buf.length) {
    const id = buf[p++];
    const end = leb() + p;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        // Module and field names (`p += leb()` would add to p as it was before the read).
        for (let k = 0; k < 2; k++) {
          const len = leb();
          p += len;
        }
        const kind = buf[p++];
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          p++;
          skipLimits();
        } else if (kind === 2) {
          skipLimits();
        } else if (kind === 3) {
          p += 2;
        } else {
          throw new Error(`size-parts: import kind ${kind} not understood`);
        }
      }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) {
        const size = leb();
        bodies.push(buf.subarray(p, p + size));
        p += size;
      }
    } else if (id === 11) {
      data.push(buf.subarray(p, end));
    } else if (id === 0) {
      const len = leb();
      const name = buf.subarray(p, p + len).toString();
      p += len;
      while (name === 'name' && p < end) {
        const sub = buf[p++];
        const subEnd = leb() + p;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const index = leb();
            const l = leb();
            names.set(index, buf.subarray(p, p + l).toString());
            p += l;
          }
        }
        p = subEnd;
      }
    }
    p = end;
  }
  if (names.size === 0) throw new Error('size-parts: the wasm has no function names (build it with wasm-opt -g)');
  return { bodies: bodies.map((body, i) => ({ body, name: names.get(imported + i) ?? '' })), data };
}

/** The exports of the library's own classes and functions, as wasm-bindgen names them. */
const EXPORT = /^(?!.*::)(?:__wbg_)?(?:livesource|unsubscribe|autowiring|patchstore|autoWire|start)(?:_|$)/;

/** The group of a function: the library's modules one by one, other crates by crate. */
export function groupOf(name) {
  if (/ shim( |$)/.test(name) || EXPORT.test(name)) return 'livesource: exports and their shims';
  if (/^__(?:wbindgen|externref)_/.test(name)) return 'wasm_bindgen';
  // `<Type as Trait>::method`: the type's crate where it names one (`<&T as ...>` does not).
  const path = /^<&?(?:dyn )?([a-z_0-9]+)(?:\[[0-9a-f]+\])?::([A-Za-z_0-9]+)/.exec(name)
    ?? /^<[^<>]* as ([a-z_0-9]+)(?:\[[0-9a-f]+\])?::([A-Za-z_0-9]+)/.exec(name)
    ?? /^([a-z_0-9]+)(?:\[[0-9a-f]+\])?::([A-Za-z_0-9]*)/.exec(name);
  if (!path) return name ? 'compiler builtins and primitives' : 'unnamed';
  if (path[1] === 'livesource') return `livesource::${path[2]}`;
  if (path[1] === 'livesource_protocol') return 'livesource: protocol';
  return path[1];
}

const own = (group) => group.startsWith('livesource');

export function parts(wasm) {
  const { bodies, data } = sections(wasm);
  const groups = new Map();
  for (const { body, name } of bodies) {
    const g = groupOf(name);
    groups.set(g, [...(groups.get(g) ?? []), body]);
  }
  const rows = [...groups].map(([group, list]) => ({
    group,
    raw: list.reduce((n, b) => n + b.length, 0),
    gzip: gz(list),
  }));
  rows.push({ group: 'data segments', raw: data.reduce((n, b) => n + b.length, 0), gzip: gz(data) });
  rows.sort((a, b) => b.gzip - a.gzip);
  const ownBodies = bodies.filter((b) => own(groupOf(b.name))).map((b) => b.body);
  const runtime = bodies.filter((b) => !own(groupOf(b.name))).map((b) => b.body);
  return {
    rows,
    all: gz([...bodies.map((b) => b.body), ...data]),
    own: gz([...ownBodies, ...data]),
    ownCode: gz(ownBodies),
    runtime: gz(runtime),
  };
}

/** The core build (no JSON-Patch) or the npm build, with function names, split by `parts`. */
export function namedParts({ patch }) {
  const dir = mkdtempSync(join(tmpdir(), 'size-parts-'));
  try {
    const target = 'target/size-parts';
    const features = patch ? ['--features', 'npm'] : ['--no-default-features', '--features', 'npm'];
    execFileSync('cargo', ['build', '-q', '-p', 'livesource', '--target', 'wasm32-unknown-unknown',
      '--profile', 'wasm-release', '--target-dir', target, ...features], { stdio: 'inherit' });
    execFileSync('wasm-bindgen', ['--target', 'web', '--out-dir', dir, '--out-name', 'livesource_wasm',
      `${target}/wasm32-unknown-unknown/wasm-release/livesource.wasm`], { stdio: 'inherit' });
    const out = join(dir, 'named.wasm');
    execFileSync('node_modules/.bin/wasm-opt', ['-Oz', '--converge', '-g', join(dir, 'livesource_wasm_bg.wasm'), '-o', out]);
    return parts(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(what, r) {
  console.log(`\n${what}: function bodies and data, gzip -9 together: ${r.all} B`);
  console.log(`  the library's own code (export shims included) and the data: ${r.own} B (the code alone: ${r.ownCode} B)`);
  console.log(`  the runtime (core, alloc, std, allocator, wasm-bindgen, js-sys...), alone: ${r.runtime} B`);
  console.log('     gzip      raw  group (each gzipped on its own)');
  for (const { group, raw, gzip } of r.rows) {
    console.log(`  ${String(gzip).padStart(7)} ${String(raw).padStart(8)}  ${group}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  report('core (--no-default-features --features npm)', namedParts({ patch: false }));
  report('npm package (--features npm)', namedParts({ patch: true }));
}
