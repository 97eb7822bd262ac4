// Minifies the package's JavaScript in place, as npm packages ship theirs: whitespace and
// comments out, syntax shortened. Names are kept (no identifier mangling), so a stack trace or a
// `console.log(source)` in a user's page still says `LiveSource`. The TypeScript declarations keep
// the documentation. `make pkg` runs it through scripts/package.mjs; the P4 benchmark runs it on
// its core build so both measure what would ship.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

export function minifyPackage(dir) {
  const files = readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(dir, f));
  for (const file of files) {
    const { code } = transformSync(readFileSync(file, 'utf8'), {
      format: 'esm',
      // Top-level await (the auto entry's `await init()`) is ES2022.
      target: 'es2022',
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
    });
    writeFileSync(file, code);
  }
  return files.length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) minifyPackage(process.argv[2] ?? 'pkg');
