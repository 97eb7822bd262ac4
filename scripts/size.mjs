// What a page downloads from the npm package, gzip -9 per file as a server would send it, split
// into the parts that grow for different reasons. `make bench` reports it as P4; `make test` runs
// `node scripts/size.mjs check pkg` so the shipped size cannot creep past the committed budget in
// scripts/size-budget.json. That is a size check, not a timing: the same source gives the same bytes.
//
// When a change shrinks the package, lower the budget to the new figures (`node scripts/size.mjs
// pkg` prints them); when one must grow it, raise it in the same commit and say why there.
import { gzipSync } from 'node:zlib';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PARTS = [
  ['wasm', 'wasm (the library)'],
  ['glue', 'JS glue (wasm-bindgen output and the crate\'s own io.js)'],
  ['entry', 'JS entry (livesource.js)'],
  ['auto', 'auto entry (livesource-auto.js)'],
  ['patch', 'patch engine (JSON-Patch, engine.js)'],
];

const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;

function files(dir) {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, f))
    .filter((f) => /\.(js|wasm)$/.test(f));
}

/** Which part of the download `file` (relative to the package) is. */
function partOf(file) {
  if (file.endsWith('.wasm')) return 'wasm';
  if (file === 'livesource.js') return 'entry';
  if (file === 'livesource-auto.js') return 'auto';
  if (file.includes('/patch/')) return 'patch';
  return 'glue';
}

/**
 * The gzip -9 bytes of each part of the package in `dir`, and two totals: `core` (what a page
 * without JSON-Patch loads: all but the patch engine) and `total`.
 */
export function breakdown(dir) {
  if (!existsSync(join(dir, 'livesource_wasm_bg.wasm'))) {
    throw new Error(`${dir} holds no built package (livesource_wasm_bg.wasm): run make pkg`);
  }
  const sizes = Object.fromEntries(PARTS.map(([k]) => [k, 0]));
  for (const f of files(dir)) sizes[partOf(relative(dir, f))] += gz(f);
  sizes.core = sizes.wasm + sizes.glue + sizes.entry + sizes.auto;
  sizes.total = sizes.core + sizes.patch;
  return sizes;
}

function main([command, dir = 'pkg']) {
  if (command !== 'check' && command !== undefined && command !== 'show') dir = command;
  const sizes = breakdown(dir);
  const rows = [...PARTS, ['core', 'core: all but the patch engine'], ['total', 'total']];
  if (command !== 'check') {
    for (const [k, what] of rows) console.log(`${String(sizes[k]).padStart(7)} B  ${what}`);
    return 0;
  }
  const budgetFile = fileURLToPath(new URL('./size-budget.json', import.meta.url));
  const budget = JSON.parse(readFileSync(budgetFile, 'utf8'));
  let failed = 0;
  for (const [k, what] of rows) {
    const limit = budget[k];
    if (typeof limit !== 'number') throw new Error(`${budgetFile}: no number for "${k}"`);
    const ok = sizes[k] <= limit;
    if (!ok) failed += 1;
    console.log(`${ok ? 'ok  ' : 'OVER'} ${String(sizes[k]).padStart(7)} B of ${String(limit).padStart(7)} B  ${what}`);
  }
  console.log(`# pass ${rows.length - failed}`);
  console.log(`# fail ${failed}`);
  if (failed) {
    console.error(`error: the package in ${dir} is over its size budget (scripts/size-budget.json);`
      + ' shrink it, or raise the budget in the same commit and say why');
  }
  return failed ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
