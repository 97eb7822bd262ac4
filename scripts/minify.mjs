// Minifies the package's JavaScript in place, as npm packages ship theirs: esbuild takes out
// whitespace and comments and shortens the syntax, then terser renames local names. Class names
// are kept (`keep_classnames`), so `console.log(source)` in a user's page still says
// `LiveSource` and a stack trace names `LiveSource.on`; exported names never change. The
// TypeScript declarations keep the documentation. `make pkg` runs it through
// scripts/package.mjs; the P4 benchmark runs it on its core build so both measure what would
// ship.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { minify } from 'terser';

export async function minifyPackage(dir) {
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
    const out = await minify(code, {
      module: true,
      ecma: 2022,
      compress: { passes: 2 },
      mangle: { keep_classnames: true },
      keep_classnames: true,
      format: { comments: false },
    });
    writeFileSync(file, out.code);
  }
  return files.length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await minifyPackage(process.argv[2] ?? 'pkg');
