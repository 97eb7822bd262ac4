// Turns wasm-pack's output in pkg/ into the `livesource` npm package: adds the hand-written
// entry points from src/js/, optimises the wasm (scripts/optimize-wasm.mjs),
// minifies the JavaScript (scripts/minify.mjs), and writes
// package.json and README.md from files kept in the repo (version from Cargo.toml, quick start
// from the root README), so nobody edits pkg/ by hand.
import { readFileSync, writeFileSync, copyFileSync, readdirSync, rmSync } from 'node:fs';
import { minifyPackage } from './minify.mjs';
import { optimizeWasm } from './optimize-wasm.mjs';

const cargo = readFileSync('Cargo.toml', 'utf8');
const pkgSection = cargo.slice(cargo.indexOf('[package]'));
const field = (name) => pkgSection.match(new RegExp(`^${name} = "(.*)"`, 'm'))?.[1];
const version = field('version');
const description = field('description');
if (!version) throw new Error('no [package] version in Cargo.toml');

for (const f of ['livesource.js', 'livesource.d.ts', 'livesource-auto.js', 'livesource-auto.d.ts']) {
  copyFileSync(`src/js/${f}`, `pkg/${f}`);
}
for (const f of ['LICENSE-MIT', 'LICENSE-APACHE']) copyFileSync(f, `pkg/${f}`);
optimizeWasm('pkg');
await minifyPackage('pkg');

// wasm-pack writes its own package.json and a .gitignore that hides everything from npm pack.
rmSync('pkg/.gitignore', { force: true });
const snippets = readdirSync('pkg').includes('snippets') ? ['snippets/'] : [];

const manifest = {
  name: 'livesource',
  version,
  description,
  type: 'module',
  main: './livesource.js',
  module: './livesource.js',
  types: './livesource.d.ts',
  exports: {
    '.': { types: './livesource.d.ts', default: './livesource.js' },
    './auto': { types: './livesource-auto.d.ts', default: './livesource-auto.js' },
    './livesource_wasm_bg.wasm': './livesource_wasm_bg.wasm',
    './package.json': './package.json',
  },
  files: [
    'livesource.js', 'livesource.d.ts',
    'livesource-auto.js', 'livesource-auto.d.ts',
    'livesource_wasm.js', 'livesource_wasm.d.ts',
    'livesource_wasm_bg.wasm', 'livesource_wasm_bg.wasm.d.ts',
    ...snippets,
    'README.md', 'LICENSE-MIT', 'LICENSE-APACHE',
  ],
  // Importing ./auto wires the page; the rest has no side effects until called.
  sideEffects: ['./livesource-auto.js', './snippets/*'],
  license: 'MIT OR Apache-2.0',
  repository: { type: 'git', url: 'git+https://github.com/livesource/livesource.git' },
  keywords: ['sse', 'server-sent-events', 'eventsource', 'live', 'htmx', 'json-patch', 'wasm'],
};
writeFileSync('pkg/package.json', `${JSON.stringify(manifest, null, 2)}\n`);

// The quick start npm shows is the one in the root README, between these markers.
const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf('<!-- npm:start -->');
const end = readme.indexOf('<!-- npm:end -->');
if (start < 0 || end < start) throw new Error('README.md lacks the <!-- npm:start/end --> markers');
const body = readme.slice(start + '<!-- npm:start -->'.length, end).trim();
writeFileSync('pkg/README.md', `# livesource\n\n${description}\n\n${body}\n\nFull documentation: https://github.com/livesource/livesource\n`);
