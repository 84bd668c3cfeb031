// The benchmark harness's own pieces: /proc sampling, statistics, ratio checks against the goals, the SVG
// chart, the markdown table, server-log parsing for replay, and reading the baked runtime flags.

import { test } from 'node:test';
import assert from 'node:assert/strict';

// The harness is plain JavaScript (scripts/bench/*.mjs); a computed specifier keeps tsc from asking for typings.
const benchModule = (name: string): string => new URL(`../../scripts/bench/${name}`, import.meta.url).href;
const sampler = await import(benchModule('proc-sampler.mjs'));
const report = await import(benchModule('report.mjs'));
const chart = await import(benchModule('svg-chart.mjs'));
const tools = await import(benchModule('tools.mjs'));
const operations = await import(benchModule('operations.mjs'));
const flags = await import(benchModule('flags.mjs'));

const nodeBinary = process.execPath;

test('mapping summary counts rw-p as private writable and ---p as reserved', () => {
  const maps = [
    '00400000-00500000 r-xp 00000000 08:01 1 /usr/bin/tool',
    '00500000-00700000 rw-p 00000000 00:00 0 [heap]',
    '7f0000000000-7f0010000000 ---p 00000000 00:00 0',
    '7f0010000000-7f0010100000 rwxp 00000000 00:00 0',
    '7f0020000000-7f0020100000 rw-s 00000000 00:05 2 /dev/shm/x',
  ].join('\n');
  const summary = sampler.mappingSummaryKiB(maps);
  assert.equal(summary.privateWritableKiB, 2048 + 1024);
  assert.equal(summary.reservedKiB, 256 * 1024);
  assert.equal(summary.mappedKiB, 1024 + 2048 + 256 * 1024 + 1024 + 1024);
});

test('runSampled sees the resident peak and CPU of a child that touches 64 MiB', async () => {
  const script = 'const b = Buffer.alloc(64 * 1024 * 1024, 1); let s = 0; for (let i = 0; i < b.length; i += 4096) s += b[i]; setTimeout(() => process.exit(s > 0 ? 0 : 1), 100);';
  const result = await sampler.runSampled(nodeBinary, ['-e', script], { intervalMs: 5 });
  assert.equal(result.code, 0);
  assert.ok(result.vmHwmKiB > 64 * 1024, `peak RSS ${result.vmHwmKiB} KiB should exceed 64 MiB`);
  assert.ok(result.privateWritableKiB > 64 * 1024, `private writable ${result.privateWritableKiB} KiB should exceed 64 MiB`);
  assert.ok(result.cpuMs > 0);
  assert.ok(result.timeline.length > 3);
});

test('runSampled follows the processes a shell pipeline starts', async () => {
  const result = await sampler.runSampled('/bin/sh', ['-c', 'head -c 50000000 /dev/zero | sleep 1'], { intervalMs: 5 });
  assert.equal(result.code, 0);
  const names = new Set(result.processes.map((p: { exe: string }) => p.exe.split('/').pop()));
  assert.ok(names.has('sleep'), `saw ${[...names].join(', ')}`);
});

test('spread gives median, quartiles and range, ignoring missing values', () => {
  assert.deepEqual(report.spread([5, 1, undefined, 3, 2, 4]), { n: 5, median: 3, q1: 2, q3: 4, min: 1, max: 5 });
  assert.equal(report.spread([]), undefined);
});

test('ratio checks hold the candidate to the issue goals', () => {
  const candidate = {
    vmPeakKiB: report.spread([300]),
    privateWritableKiB: report.spread([50]),
    vmHwmKiB: report.spread([70]),
    wallMs: report.spread([100]),
  };
  const reference = { vmPeakKiB: report.spread([1000]), privateWritableKiB: report.spread([100]), vmHwmKiB: report.spread([60]), wallMs: report.spread([200]) };
  const checks = report.ratioChecks(candidate, reference);
  const verdict = Object.fromEntries(checks.map((c: { metric: string; met: boolean }) => [c.metric, c.met]));
  assert.deepEqual(verdict, { vmPeakKiB: true, privateWritableKiB: false, vmHwmKiB: false, wallMs: true });
  const quoted = report.ratioChecks(candidate, { wallMs: 50 }, { quoted: true });
  assert.equal(quoted.length, 1);
  assert.equal(quoted[0].ratio, 2);
  assert.equal(quoted[0].quoted, true);
});

test('a not-available row has as many cells as the header', () => {
  const operation = {
    columns: ['wallMs', 'vmHwmKiB', 'cpuMs'],
    tools: {
      walnut: { available: false, reason: 'not implemented yet | exit 1', runs: [] },
      'wal-g': { available: true, runs: [{ wallMs: 1 }], summary: { wallMs: report.spread([1000]), vmHwmKiB: report.spread([2048]), cpuMs: report.spread([10]) } },
    },
  };
  const lines = report.operationTable(operation).split('\n');
  const cells = (line: string): number => line.replaceAll('\\|', '').split('|').length;
  for (const line of lines) assert.equal(cells(line), cells(lines[0]), line);
  assert.match(lines[2], /not available: not implemented yet/);
});

test('nice ticks are round and cover the data', () => {
  const ticks = chart.niceTicks(0.3, 97.2, 5);
  assert.ok(ticks[0] <= 0.3 && ticks[ticks.length - 1] >= 97.2);
  assert.deepEqual(ticks, [0, 20, 40, 60, 80, 100]);
});

test('the line chart draws one path per series and escapes text', () => {
  const svg = chart.lineChartSvg({
    title: 'RSS <walnut & wal-g>',
    xLabel: 's',
    yLabel: 'MiB',
    series: [
      { name: 'a', points: [[0, 1], [1, 2], [2, 3]] },
      { name: 'b', dashed: true, points: [[0, 3], [2, 1]] },
    ],
  });
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<path /g)?.length, 2);
  assert.match(svg, /RSS &lt;walnut &amp; wal-g&gt;/);
  assert.match(svg, /stroke-dasharray/);
});

test('thinning keeps the extremes of a long series', () => {
  const points = Array.from({ length: 10_000 }, (_, i) => [i, i === 5000 ? 999 : 1]);
  const thin = chart.thinPoints(points, 200);
  assert.ok(thin.length <= 210);
  assert.ok(thin.some((p: number[]) => p[1] === 999));
});

test('replay time and distinct restored segments come from the server log', () => {
  const log = [
    '2026-11-24 00:04:10.100 UTC [10] LOG:  starting archive recovery',
    '2026-11-24 00:04:10.300 UTC [10] LOG:  restored log file "000000010000000000000003" from archive',
    '2026-11-24 00:04:10.900 UTC [10] LOG:  restored log file "000000010000000000000004" from archive',
    '2026-11-24 00:04:11.000 UTC [10] LOG:  restored log file "000000010000000000000004" from archive',
    '2026-11-24 00:04:11.500 UTC [10] LOG:  archive recovery complete',
  ].join('\n');
  assert.deepEqual(operations.replayFromLog(log), { replayMs: 1400, restoredSegments: 2 });
});

test('not implemented yet is told apart from other failures', () => {
  assert.equal(tools.isNotImplemented({ code: 1, stderr: 'ERROR: 2026/11/24 backup-push: not implemented yet', stdout: '' }), true);
  assert.equal(tools.isNotImplemented({ code: 1, stderr: 'ERROR: storage is unreachable', stdout: '' }), false);
});

test('shell quoting leaves plain words alone and quotes the rest', () => {
  assert.equal(tools.shellQuote('/usr/bin/wal-g'), '/usr/bin/wal-g');
  assert.equal(tools.shellQuote("it's here"), "'it'\\''s here'");
});

test('the baked runtime flags are read from scripts/build.mjs', () => {
  const baked = flags.readBakedExecArgv();
  assert.ok(baked.includes('--jitless'), baked.join(' '));
  assert.ok(baked.every((flag: string) => flag.startsWith('--')));
});

test('a thinned memory timeline keeps its peaks and its end', () => {
  const timeline = Array.from({ length: 5000 }, (_, i) => ({ tMs: i, rssKiB: i === 1234 ? 9e6 : 100, privateWritableKiB: i === 4321 ? 8e6 : 50 }));
  const thin = operations.thinTimeline(timeline, 100);
  assert.ok(thin.length <= 110);
  assert.ok(thin.some((p: { rssKiB: number }) => p.rssKiB === 9e6));
  assert.ok(thin.some((p: { privateWritableKiB: number }) => p.privateWritableKiB === 8e6));
  assert.equal(thin.at(-1).tMs, 4999);
});

test('comments with quotes in the baked flag list are not read as flags', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const directory = mkdtempSync(join(tmpdir(), 'bench-flags-'));
  try {
    const file = join(directory, 'build.mjs');
    writeFileSync(file, "export const bakedExecArgv = [\n  // Node's inspector: 'off'\n  '--disable-sigusr1',\n  '--jitless', /* the 'code range' */\n];\n");
    assert.deepEqual(flags.readBakedExecArgv(file), ['--disable-sigusr1', '--jitless']);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test('a missing tool is one line naming it and what to do, not a stack', () => {
  const previous = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    assert.throws(() => sampler.resolveExecutable('pgbackrest'), (error: Error) => error instanceof sampler.MissingToolError && /^pgbackrest is not on PATH: install it with `bash scripts\/bench\/setup.sh`/.test(error.message));
  } finally {
    process.env.PATH = previous;
  }
  assert.throws(() => sampler.resolveExecutable('/nonexistent/wal-g'), (error: Error) => error.message === '/nonexistent/wal-g does not exist: pass the path of an executable');
  assert.equal(sampler.resolveExecutable('/bin/sh').startsWith('/'), true);
});
