// The package's wasm, optimised for download size, and the names it shares with its JS glue
// made short. `make pkg` runs it through scripts/package.mjs, and the P4 benchmark on its core
// build, on wasm-bindgen's fresh output (before scripts/minify.mjs).
//
// 1. wasm-opt -Oz --converge: npm binaryen's (Debian's binaryen 108 breaks the output at
//    runtime); `--converge` repeats the passes while the file still shrinks.
// 2. Names: wasm-bindgen names every import `__wbg_<method>_<16 hex digits>` and every closure
//    shim `wasm_bindgen__convert__closures_____invoke__h<16 hex digits>`: 130-odd names that
//    appear in the wasm's import and export sections and again in the glue, and whose hashes
//    gzip cannot squeeze. Binaryen's `--minify-imports-and-exports-and-modules` renames them in
//    the wasm (`a`, `Ba`, `$b`...) and prints the mapping, which is applied here to the glue
//    (`livesource_wasm.js`) and to the wasm's TypeScript declaration; the glue's functions for
//    imports that step 1 removed go too. Nothing a user sees changes: the classes, methods and
//    options keep their names, and the wasm's own function names are stripped anyway. The same
//    pass drops the `producers` and `target_features` sections, which no browser reads.
//
// Every name is checked: if the glue does not have the shape wasm-bindgen 0.2.130 writes, the
// build fails here instead of shipping a package whose imports do not line up.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WASM_OPT = 'node_modules/.bin/wasm-opt';
const BG = './livesource_wasm_bg.js';
const SHIM = /\bwasm_bindgen__convert__closures_+invoke__h[0-9a-f]{16}\b/g;

const escape = (s) => s.replace(/[$]/g, '\\$&');

/** Replaces every match of `pattern` in `text` and fails unless there were `min` or more. */
function replaceAll(text, pattern, replacement, what, min = 1) {
  let n = 0;
  const out = text.replace(pattern, (...m) => { n += 1; return typeof replacement === 'function' ? replacement(...m) : replacement; });
  if (n < min) throw new Error(`optimize-wasm: ${what}: expected at least ${min} occurrence(s), found ${n}`);
  return out;
}

export function optimizeWasm(dir) {
  const out = `${join(dir, 'livesource_wasm_bg.wasm')}.optimized`;
  try {
    return optimize(dir, out);
  } finally {
    rmSync(out, { force: true });
  }
}

function optimize(dir, out) {
  const wasm = join(dir, 'livesource_wasm_bg.wasm');
  const gluePath = join(dir, 'livesource_wasm.js');
  const dtsPath = join(dir, 'livesource_wasm_bg.wasm.d.ts');
  let glue = readFileSync(gluePath, 'utf8');
  if (!glue.includes('function __wbg_get_imports()')) {
    throw new Error(`optimize-wasm: ${gluePath} is not wasm-bindgen's fresh output (already minified?): rebuild the package`);
  }
  // The optimised wasm is written beside the original and takes its place only once the glue
  // matches it: a failure leaves wasm-bindgen's pair, not a wasm newer than its sources whose
  // names the glue does not know (which make would then take for up to date).
  execFileSync(WASM_OPT, ['-Oz', '--converge', wasm, '-o', out]);
  const map = JSON.parse(execFileSync(WASM_OPT, [out, '--minify-imports-and-exports-and-modules',
    '--strip-producers', '--strip-target-features', '-o', out], { encoding: 'utf8' }));
  // Every import now comes from one module with a one-letter name.
  const modules = [...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(out))).map((i) => i.module))];
  if (modules.length !== 1) throw new Error(`optimize-wasm: expected one import module after minifying, got ${modules.join(', ')}`);
  let dts = readFileSync(dtsPath, 'utf8');

  // Imports of the glue's own object, one property per import, each starting on a line indented
  // by 8: renamed, or dropped where wasm-opt -Oz dropped the import (nothing calls it).
  const short = new Map(map.imports.filter(([module]) => module === BG).map(([, old, s]) => [old, s]));
  const open = '    const import0 = {\n        __proto__: null,\n';
  const from = glue.indexOf(open) + open.length;
  const to = glue.indexOf('\n    };\n', from) + 1;
  if (from < open.length || to <= from) throw new Error(`optimize-wasm: no import0 object in ${gluePath}`);
  const props = glue.slice(from, to).split(/^(?= {8}[A-Za-z0-9_$]+:)/m);
  const kept = [];
  for (const prop of props) {
    const name = /^ {8}([A-Za-z0-9_$]+):/.exec(prop)?.[1];
    if (!name) throw new Error(`optimize-wasm: unexpected import0 property in ${gluePath}: ${prop.slice(0, 80)}`);
    if (short.has(name)) kept.push(prop.replace(name, () => short.get(name)));
    short.delete(name);
  }
  if (short.size) throw new Error(`optimize-wasm: imports missing from import0: ${[...short.keys()].join(', ')}`);
  // Imports taken straight from a snippet module (the glue passed the module's namespace, which
  // has the long names) join the one object, read from their namespace under the short name.
  const namespaces = new Map();
  for (const m of glue.matchAll(/^ {8}"([^"]+)": (import\d+),\n/gm)) namespaces.set(m[1], m[2]);
  for (const [module, old, s] of map.imports) {
    if (module === BG) continue;
    if (!namespaces.has(module)) throw new Error(`optimize-wasm: no import object for ${module} in ${gluePath}`);
    kept.push(`        ${s}: ${namespaces.get(module)}.${old},\n`);
  }
  glue = glue.slice(0, from) + kept.join('') + glue.slice(to);
  glue = replaceAll(glue, /^ {4}return \{\n {8}__proto__: null,\n(?: {8}"[^"]+": import\d+,\n)+ {4}\};\n/m,
    `    return { __proto__: null, ${JSON.stringify(modules[0])}: import0 };\n`, 'the imports object');
  // Exports, which the glue reads as `wasm.<name>`.
  for (const [old, short] of map.exports) {
    glue = replaceAll(glue, new RegExp(`\\bwasm\\.${escape(old)}\\b`, 'g'), () => `wasm.${short}`, `export ${old}`, 0);
    dts = replaceAll(dts, new RegExp(`\\bexport const ${escape(old)}:`, 'g'), () => `export const ${short}:`, `declared export ${old}`, 0);
  }
  // The glue's own wrappers of the closure shims, named after them.
  const shims = [...new Set(glue.match(SHIM) ?? [])];
  if (/\binvoke\d/.test(glue)) throw new Error(`optimize-wasm: ${gluePath} already has a name like invoke0`);
  shims.forEach((name, i) => { glue = glue.replaceAll(name, `invoke${i}`); });

  // A long name left anywhere means it is used some other way than the ones renamed above.
  const left = glue.match(/__wbg_[A-Za-z0-9_]*_[0-9a-f]{16}\b/)?.[0]
    ?? map.exports.map(([old]) => old).find((old) => old.length > 8 && new RegExp(`\\b${escape(old)}\\b`).test(glue));
  if (left) throw new Error(`optimize-wasm: ${left} is still in ${gluePath}`);
  writeFileSync(gluePath, glue);
  writeFileSync(dtsPath, dts);
  renameSync(out, wasm);
  return { imports: map.imports.length, exports: map.exports.length, shims: shims.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(optimizeWasm(process.argv[2] ?? 'pkg'));
