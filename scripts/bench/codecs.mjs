// Streams 1 GiB and 4 GiB of half-compressible data through every codec and crypter with the built binary
// (`wal-g st put -s` into file storage, then `st cat --decrypt --decompress` to /dev/null), samples memory from
// /proc, and checks that peak RSS does not grow with the input. Raw `lz4`/`zstd` CLI rows give a reference.
//
// Usage: node scripts/bench/codecs.mjs [--sizes 1,4] [--matrix default|full] [--bin dist/wal-g] [--out dir]
//   default matrix: every codec without encryption, plus lz4 with each crypter; full: every codec × crypter.
// Writes scripts/bench/results/codecs-<date>.json and .md (or into --out).

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSampled } from './proc-sampler.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
/** Peak RSS at the larger size may exceed the smaller size's by at most this fraction. */
const RSS_GROWTH_TOLERANCE = 0.1;
const EXTENSIONS = { lz4: 'lz4', lzma: 'lzma', zstd: 'zst', brotli: 'br', none: '' };

function parseArguments(argv) {
  const options = { sizes: [1, 4], matrix: 'default', bin: join(root, 'dist/wal-g'), out: join(root, 'scripts/bench/results') };
  for (let index = 0; index < argv.length; index++) {
    const value = argv[index + 1];
    switch (argv[index]) {
      case '--sizes':
        options.sizes = value.split(',').map(Number);
        index++;
        break;
      case '--matrix':
        options.matrix = value;
        index++;
        break;
      case '--bin':
        options.bin = value;
        index++;
        break;
      case '--out':
        options.out = value;
        index++;
        break;
      default:
        throw new Error(`unknown argument ${argv[index]}`);
    }
  }
  return options;
}

/**
 * 64 MiB that repeats: 1 MiB slices of real WAL segments from the compat fixtures (about half zero pages, the rest
 * records) alternating with 1 MiB of random bytes. The period is far above every codec's window (8 MiB at most),
 * so the repetition does not flatter the ratios.
 */
function makePattern() {
  const walFolder = join(root, 'compat-fixtures/pg15-lz4-delta/storage/wal_005');
  const segments = readdirSync(walFolder)
    .filter((name) => /^[0-9A-F]{24}\.lz4$/.test(name))
    .map((name) => execFileSync('lz4', ['-dc', join(walFolder, name)], { maxBuffer: 32 * MIB }));
  const wal = Buffer.concat(segments);
  const pattern = Buffer.alloc(64 * MIB);
  for (let slice = 0; slice < 64; slice++) {
    const target = pattern.subarray(slice * MIB, (slice + 1) * MIB);
    if (slice % 2 === 0) {
      const from = ((slice / 2) * MIB) % (wal.length - MIB);
      wal.copy(target, 0, from, from + MIB);
    } else {
      randomBytes(MIB).copy(target);
    }
  }
  return pattern;
}

/**
 * Runs `command` sampled, with `bytes` of the pattern streamed into its stdin through a FIFO (so the data is made
 * on the fly and the child sees a real pipe), stdout to `stdoutPath`.
 */
async function runFedFromFifo(command, args, { env, bytes, pattern, fifo, stdoutPath }) {
  execFileSync('mkfifo', [fifo]);
  try {
    // Opening a FIFO blocks until the other end opens: start the writer's open in the thread pool, then open
    // the reading end here, which lets both complete.
    const writerOpening = open(fifo, 'w');
    const readFd = openSync(fifo, 'r');
    const writer = await writerOpening;
    const stdoutFd = openSync(stdoutPath, 'w');
    const running = runSampled(command, args, { env, stdio: [readFd, stdoutFd, 'pipe'], intervalMs: 20 });
    closeSync(readFd);
    closeSync(stdoutFd);
    let written = 0;
    try {
      while (written < bytes) {
        const offset = written % pattern.length;
        const length = Math.min(4 * MIB, pattern.length - offset, bytes - written);
        await writer.write(pattern, offset, length);
        written += length;
      }
    } catch (error) {
      if (error.code !== 'EPIPE') throw error;
    } finally {
      await writer.close();
    }
    return await running;
  } finally {
    rmSync(fifo, { force: true });
  }
}

function sampledSummary(result, bytes) {
  return {
    exitCode: result.code,
    wallMs: Math.round(result.wallMs),
    cpuMs: Math.round(result.cpuMs),
    mibPerSecond: Number((bytes / MIB / (result.wallMs / 1000)).toFixed(1)),
    // CPU-time throughput is what a busy machine distorts least.
    mibPerCpuSecond: result.cpuMs > 0 ? Number((bytes / MIB / (result.cpuMs / 1000)).toFixed(1)) : undefined,
    peakRssMiB: Number((result.vmHwmKiB / 1024).toFixed(1)),
  };
}

function cases(matrix, crypters) {
  const list = [];
  for (const method of Object.keys(EXTENSIONS)) {
    for (const crypter of Object.keys(crypters)) {
      if (matrix === 'full' || crypter === 'none' || method === 'lz4') list.push({ method, crypter });
    }
  }
  return list;
}

function markdownTable(report) {
  const lines = [
    `# Codec and crypter streaming benchmark — ${report.date}`,
    '',
    `Binary: \`${report.binary}\` (${report.version}). Machine: ${report.machine.cpus} CPUs, load average at start ${report.machine.loadAverage}.`,
    `Input: ${report.sizesGiB.join(' GiB and ')} GiB streamed through a FIFO, half real WAL from the compat fixtures, half random.`,
    '`put` = `wal-g st put -s` into file storage; `cat` = `wal-g st cat --decrypt --decompress` to /dev/null.',
    `Peak RSS is VmHWM of the process; the binary doing nothing (\`st ls\` of an empty storage) peaks at ${report.baselinePeakRssMiB} MiB.`,
    '"RSS flat" compares the peak at the largest size with the smallest (at most +10%). MiB/CPU·s divides by the',
    "process's user+system time, which a busy machine distorts less than wall time.",
    '',
    '| codec | crypter | size | stored | put MiB/s | put MiB/CPU·s | put peak RSS MiB | cat MiB/s | cat MiB/CPU·s | cat peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of report.rows) {
    lines.push(
      `| ${row.method} | ${row.crypter} | ${row.sizeGiB} GiB | ${(row.storedRatio * 100).toFixed(1)}% | ` +
        `${row.put.mibPerSecond} | ${row.put.mibPerCpuSecond} | ${row.put.peakRssMiB} | ` +
        `${row.cat.mibPerSecond} | ${row.cat.mibPerCpuSecond} | ${row.cat.peakRssMiB} |`,
    );
  }
  lines.push('', '| codec | crypter | put peak RSS (MiB, by size) | cat peak RSS (MiB, by size) | RSS flat |', '|---|---|---|---|---|');
  for (const check of report.rssChecks) {
    lines.push(`| ${check.method} | ${check.crypter} | ${check.put.join(' → ')} | ${check.cat.join(' → ')} | ${check.flat ? 'yes' : '**no**'} |`);
  }
  lines.push('', '| reference | size | MiB/s | MiB/CPU·s | peak RSS MiB |', '|---|---|---|---|---|');
  for (const row of report.references) {
    lines.push(`| ${row.name} | ${row.sizeGiB} GiB | ${row.mibPerSecond} | ${row.mibPerCpuSecond} | ${row.peakRssMiB} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const work = mkdtempSync(join(process.env.WALNUT_BENCH_TMPDIR ?? tmpdir(), 'walnut-codec-bench-'));
  // Gigabytes of stored objects live here: remove them also when the run is interrupted.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const storage = join(work, 'storage');
  const home = join(work, 'home');
  mkdirSync(storage);
  mkdirSync(home);
  const fifo = join(work, 'input.fifo');
  const devNull = '/dev/null';
  const devNullFd = openSync(devNull, 'w');
  const pattern = makePattern();
  const pgp = JSON.parse(readFileSync(join(root, 'compat-fixtures/pg14-brotli-pgp-remote/manifest.json'), 'utf8')).settings;
  const crypters = {
    none: {},
    libsodium: { WALG_LIBSODIUM_KEY: randomBytes(32).toString('base64'), WALG_LIBSODIUM_KEY_TRANSFORM: 'base64' },
    openpgp: { WALG_PGP_KEY: pgp.WALG_PGP_KEY, WALG_PGP_KEY_PASSPHRASE: pgp.WALG_PGP_KEY_PASSPHRASE },
  };
  const version = spawnSync(options.bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const report = {
    date: new Date().toISOString().slice(0, 10),
    binary: options.bin,
    version,
    machine: { cpus: (await import('node:os')).cpus().length, loadAverage: (await import('node:os')).loadavg().map((v) => v.toFixed(2)).join(' ') },
    sizesGiB: options.sizes,
    baselinePeakRssMiB: undefined,
    rows: [],
    rssChecks: [],
    references: [],
  };
  try {
    const idle = await runSampled(options.bin, ['st', 'ls'], { env: { PATH: process.env.PATH, HOME: home, WALG_FILE_PREFIX: storage }, intervalMs: 5 });
    report.baselinePeakRssMiB = Number((idle.vmHwmKiB / 1024).toFixed(1));
    for (const { method, crypter } of cases(options.matrix, crypters)) {
      const env = { PATH: process.env.PATH, HOME: home, WALG_FILE_PREFIX: storage, WALG_COMPRESSION_METHOD: method, ...crypters[crypter] };
      const peaks = { put: [], cat: [] };
      for (const sizeGiB of options.sizes) {
        const bytes = sizeGiB * GIB;
        const name = `bench/${method}-${crypter}`;
        const stored = join(storage, `${name}.${EXTENSIONS[method]}`);
        const put = await runFedFromFifo(options.bin, ['st', 'put', '-s', '-f', name], { env, bytes, pattern, fifo, stdoutPath: devNull });
        if (put.code !== 0) throw new Error(`st put ${method}/${crypter} failed: ${put.stderr}`);
        const storedBytes = statSync(stored).size;
        const cat = await runSampled(options.bin, ['st', 'cat', '--decrypt', '--decompress', `${name}.${EXTENSIONS[method]}`], {
          env,
          stdio: ['ignore', devNullFd, 'pipe'],
          intervalMs: 20,
        });
        if (cat.code !== 0) throw new Error(`st cat ${method}/${crypter} failed: ${cat.stderr}`);
        rmSync(stored, { force: true });
        const row = { method, crypter, sizeGiB, storedRatio: storedBytes / bytes, put: sampledSummary(put, bytes), cat: sampledSummary(cat, bytes) };
        report.rows.push(row);
        peaks.put.push(row.put.peakRssMiB);
        peaks.cat.push(row.cat.peakRssMiB);
        process.stderr.write(
          `${method}/${crypter} ${sizeGiB} GiB: put ${row.put.mibPerSecond} MiB/s, ${row.put.peakRssMiB} MiB; ` +
            `cat ${row.cat.mibPerSecond} MiB/s, ${row.cat.peakRssMiB} MiB\n`,
        );
      }
      const flat = (values) => values.at(-1) <= values[0] * (1 + RSS_GROWTH_TOLERANCE);
      report.rssChecks.push({ method, crypter, put: peaks.put, cat: peaks.cat, flat: flat(peaks.put) && flat(peaks.cat) });
    }
    // The command-line tools on the same stream: compress from the FIFO into a file, then decompress it.
    for (const [tool, extension] of [
      ['lz4', 'lz4'],
      ['zstd', 'zst'],
    ]) {
      for (const sizeGiB of options.sizes) {
        const bytes = sizeGiB * GIB;
        const compressedPath = join(work, `reference.${extension}`);
        const compress = await runFedFromFifo(tool, ['-c', '-q'], { env: process.env, bytes, pattern, fifo, stdoutPath: compressedPath });
        if (compress.code !== 0) throw new Error(`${tool} -c failed: ${compress.stderr}`);
        report.references.push({ name: `${tool} -c`, sizeGiB, ...sampledSummary(compress, bytes) });
        const decompress = await runSampled(tool, ['-d', '-c', '-q', compressedPath], {
          env: process.env,
          stdio: ['ignore', devNullFd, 'pipe'],
          intervalMs: 20,
        });
        report.references.push({ name: `${tool} -dc`, sizeGiB, ...sampledSummary(decompress, bytes) });
        rmSync(compressedPath, { force: true });
        process.stderr.write(`${tool} ${sizeGiB} GiB done\n`);
      }
    }
  } finally {
    closeSync(devNullFd);
    rmSync(work, { recursive: true, force: true });
  }
  mkdirSync(options.out, { recursive: true });
  const stem = join(options.out, `codecs-${report.date}`);
  writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const markdown = markdownTable(report);
  writeFileSync(`${stem}.md`, markdown);
  process.stdout.write(markdown);
  if (report.rssChecks.some((check) => !check.flat)) {
    process.stderr.write('peak RSS grew with the input size beyond 10% for some rows\n');
    process.exitCode = 1;
  }
}

await main();
