// npm run build: the WebAssembly module (cargo), its JavaScript glue
// (wasm-bindgen), wasm-opt when installed, and the package's own files,
// all into dist/. Installs the wasm32 target and the wasm-bindgen-cli that
// matches the crate's pinned wasm-bindgen when they are missing.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const target = 'wasm32-unknown-unknown';

function run(cmd, args, opts = {}) {
  console.error(`> ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

// The one version, from Cargo.toml's `wasm-bindgen = { version = "=x.y.z" … }`.
const pin = /^wasm-bindgen\s*=.*"=([0-9.]+)"/m.exec(readFileSync(join(root, 'Cargo.toml'), 'utf8'));
if (!pin) throw new Error('Cargo.toml must pin wasm-bindgen with "=x.y.z"');
const version = pin[1];

if (!(output('rustup', ['target', 'list', '--installed']) ?? '').split('\n').includes(target)) {
  run('rustup', ['target', 'add', target]);
}
const installed = output('wasm-bindgen', ['--version'])?.trim().split(' ')[1];
if (installed !== version) {
  console.error(`wasm-bindgen-cli ${installed ?? 'not installed'}; installing ${version} (several minutes)`);
  run('cargo', ['install', 'wasm-bindgen-cli', '--version', version, '--locked']);
}

run('cargo', ['build', '--release', '--locked', '--target', target]);
const built = join(root, 'target', target, 'release', 'douyu_wasm.wasm');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
run('wasm-bindgen', ['--target', 'web', '--no-typescript', '--out-dir', dist, built]);

const wasm = join(dist, 'douyu_wasm_bg.wasm');
const before = statSync(wasm).size;
if (output('wasm-opt', ['--version']) !== null) {
  // The features rustc enables by default for wasm32 (binaryen 108 needs
  // them named); -O3 measured both smaller and faster than without it.
  run('wasm-opt', ['-O3', '--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals',
    '--enable-nontrapping-float-to-int', '--enable-reference-types', '--enable-multivalue',
    wasm, '-o', wasm]);
} else {
  console.error('wasm-opt not found (Debian: apt-get install binaryen); the module is larger');
}

for (const f of ['api.js', 'watch.js', 'node.js', 'browser.js', 'index.d.ts']) {
  copyFileSync(join(root, 'js', f), join(dist, f));
}
// The error classes live in a wasm-bindgen snippet (the module creates them);
// the API re-exports that very file, so `instanceof` holds.
const snippets = join(dist, 'snippets');
const [snippet] = readdirSync(snippets);
const errors = relative(dist, join(snippets, snippet, 'js', 'errors.js'));
writeFileSync(join(dist, 'errors.js'), `export * from './${errors}';\n`);

const bytes = readFileSync(wasm);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.error(`douyu_wasm_bg.wasm: ${kib(bytes.length)} (${kib(gzipSync(bytes, { level: 9 }).length)} gzip; ${kib(before)} before wasm-opt)`);
