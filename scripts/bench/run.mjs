// The side-by-side benchmark: runs wal-g-compatible binaries (walnut and WAL-G), pgBackRest and raw limits on the
// same PostgreSQL 15 inputs in alternating rounds, and writes JSON, a markdown report and SVG memory charts.
//
// Usage: node scripts/bench/run.mjs [--candidate dist/wal-g] [--reference PATH|LABEL=PATH ...] [--pgbackrest]
//          [--ops wal-push,archive,backup-push,backup-fetch,wal-replay] [--runs 3] [--scale 50[,350]] ...
// See scripts/bench/README.md for every option and what each operation measures.

import { parseArgs } from 'node:util';
import { cpus, totalmem, release, loadavg } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`bench: this needs Node 22.18 or later (it imports the TypeScript test helpers); run it with node_modules/.bin/node scripts/bench/run.mjs, not node ${process.version}`);
  process.exit(2);
}

const { resolveClusterUser } = await import('../../tests/helpers/postgres.ts');
const { keepTempDir, makeTempDir, removeTempDir } = await import('../../tests/helpers/tmp.ts');
const { WalgTool, PgBackRestTool, RawTool } = await import('./tools.mjs');
const { generateSegments, prepareArchiveCluster, prepareBackupClusters } = await import('./workloads.mjs');
const operations = await import('./operations.mjs');
const report = await import('./report.mjs');
const { MissingToolError } = await import('./proc-sampler.mjs');

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const operationNames = ['wal-push', 'archive', 'backup-push', 'backup-fetch', 'wal-replay'];
const operationAliases = { a: 'wal-push', b: 'archive', c: 'backup-push', d: 'backup-fetch', e: 'wal-replay' };

const usage = `Usage: node scripts/bench/run.mjs [options]
  --candidate PATH          the wal-g-compatible binary under test (default dist/wal-g)
  --reference PATH          a reference binary (WAL-G), repeatable; LABEL=PATH names it (default label wal-g, wal-g-2, ...)
  --daemon-client LABEL=PATH  walg-daemon-client for a tool (default: the one next to its binary)
  --pgbackrest              add pgBackRest as a peer (install it with scripts/bench/setup.sh)
  --no-raw                  leave out the raw limits (cp / lz4 per segment, tar | lz4 of the data directory)
  --ops LIST                comma list of ${operationNames.join(', ')} (or a-e); default all
  --runs N                  rounds of every operation but archive (default 3)
  --archive-runs N          rounds of the archive operation, ${'each'} a pgbench load per participant (default 1)
  --segments N              WAL segments for wal-push and replay (default 16)
  --scale N[,N...]          pgbench scale of the backup cluster(s) (default 50: ~750 MiB)
  --random-mib N            size of the incompressible cluster, 0 to skip it (default 256)
  --load-segments N         WAL the pgbench load writes while archiving, in 16 MiB segments (default 32)
  --load-timeout N          seconds after which the load stops anyway (default 300)
  --drain-timeout N         seconds to wait for the archive backlog to empty after the load (default 120)
  --pgbackrest-process-max N  pgBackRest's process-max (default 2)
  --env KEY=VALUE           extra setting for every wal-g-compatible tool, repeatable
  --sample-ms N             /proc sampling interval for single short processes (default 2)
  --tree-sample-ms N        sampling interval for process trees and long runs (default 10)
  --out DIR                 results directory (default scripts/bench/results/<date>)
  --keep                    keep the work directory (storages, segments) for inspection
`;

/** A mistake in the command line: reported as one line with the usage, not as a stack trace. */
class BenchUsageError extends Error {}

function parseOptions(argv) {
  let values;
  try {
    values = parseArgsOrThrow(argv);
  } catch (error) {
    throw new BenchUsageError(error.message);
  }
  return optionsFrom(values);
}

function parseArgsOrThrow(argv) {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      candidate: { type: 'string', default: join(root, 'dist/wal-g') },
      reference: { type: 'string', multiple: true, default: [] },
      'daemon-client': { type: 'string', multiple: true, default: [] },
      pgbackrest: { type: 'boolean', default: false },
      raw: { type: 'boolean', default: true },
      ops: { type: 'string', default: operationNames.join(',') },
      runs: { type: 'string', default: '3' },
      'archive-runs': { type: 'string', default: '1' },
      segments: { type: 'string', default: '16' },
      scale: { type: 'string', default: '50' },
      'random-mib': { type: 'string', default: '256' },
      'load-segments': { type: 'string', default: '32' },
      'load-timeout': { type: 'string', default: '300' },
      'drain-timeout': { type: 'string', default: '120' },
      'pgbackrest-process-max': { type: 'string', default: '2' },
      env: { type: 'string', multiple: true, default: [] },
      'sample-ms': { type: 'string', default: '2' },
      'tree-sample-ms': { type: 'string', default: '10' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

function optionsFrom(values) {
  if (values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  const positive = (name, text, { allowZero = false } = {}) => {
    const number = Number(text);
    if (!Number.isInteger(number) || number < (allowZero ? 0 : 1)) throw new BenchUsageError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} whole number, not "${text}"`);
    return number;
  };
  const ops = values.ops.split(',').map((name) => operationAliases[name.trim()] ?? name.trim());
  for (const name of ops) if (!operationNames.includes(name)) throw new BenchUsageError(`--ops: unknown operation "${name}"; choose from ${operationNames.join(', ')}`);
  // backup-fetch restores what backup-push wrote, so it brings backup-push along.
  if (ops.includes('backup-fetch') && !ops.includes('backup-push')) ops.push('backup-push');
  const pairs = (list, name) =>
    list.map((item) => {
      const at = item.indexOf('=');
      if (at <= 0) throw new BenchUsageError(`--${name} wants KEY=VALUE, not "${item}"`);
      return [item.slice(0, at), item.slice(at + 1)];
    });
  return {
    candidate: resolve(values.candidate),
    references: values.reference.map((item, index) => {
      const at = item.indexOf('=');
      const label = at > 0 && !item.slice(0, at).includes('/') ? item.slice(0, at) : index === 0 ? 'wal-g' : `wal-g-${index + 1}`;
      return { label, binary: resolve(at > 0 && !item.slice(0, at).includes('/') ? item.slice(at + 1) : item) };
    }),
    daemonClients: Object.fromEntries(pairs(values['daemon-client'], 'daemon-client').map(([label, path]) => [label, resolve(path)])),
    pgbackrest: values.pgbackrest,
    raw: values.raw,
    ops: operationNames.filter((name) => ops.includes(name)),
    runs: positive('runs', values.runs),
    archiveRuns: positive('archive-runs', values['archive-runs']),
    segments: positive('segments', values.segments),
    scales: values.scale.split(',').map((s) => positive('scale', s.trim())),
    randomMiB: positive('random-mib', values['random-mib'], { allowZero: true }),
    loadSegments: positive('load-segments', values['load-segments']),
    loadTimeoutSeconds: positive('load-timeout', values['load-timeout']),
    drainTimeoutSeconds: positive('drain-timeout', values['drain-timeout']),
    pgbackrestProcessMax: positive('pgbackrest-process-max', values['pgbackrest-process-max']),
    extraEnv: Object.fromEntries(pairs(values.env, 'env')),
    sampleMs: positive('sample-ms', values['sample-ms']),
    treeSampleMs: positive('tree-sample-ms', values['tree-sample-ms']),
    out: values.out ? resolve(values.out) : undefined,
    keep: values.keep,
  };
}

function machineDescription() {
  const cpuList = cpus();
  let postgres = '';
  try {
    postgres = execFileSync('/usr/lib/postgresql/15/bin/postgres', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    postgres = 'PostgreSQL 15 not found';
  }
  return {
    cpu: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: +(totalmem() / 1024 ** 3).toFixed(1),
    kernel: release(),
    loadAverageAtStart: loadavg().map((value) => +value.toFixed(2)),
    overcommitMemory: readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim(),
    postgres,
    node: process.version,
  };
}

function defaultOutputDirectory() {
  const date = new Date().toISOString().slice(0, 10);
  const base = join(root, 'scripts/bench/results', date);
  if (!existsSync(base)) return base;
  for (let index = 2; ; index++) if (!existsSync(`${base}-${index}`)) return `${base}-${index}`;
}

/** Candidate/reference ratio rows for every operation both ran (or against the quoted figures without a reference). */
function computeRatios(bench) {
  const rows = [];
  const candidate = bench.tools.find((tool) => tool.role === 'candidate');
  const references = bench.tools.filter((tool) => tool.role === 'reference');
  for (const operation of Object.values(bench.results.operations)) {
    for (const [label, entry] of Object.entries(operation.tools)) {
      if (!entry.available || !(label === candidate.label || label.startsWith(`${candidate.label} `))) continue;
      const suffix = label.slice(candidate.label.length);
      const { summary, metricNote } = comparableSummary(operation.name, entry.summary);
      for (const reference of references) {
        const referenceEntry = operation.tools[`${reference.label}${suffix}`];
        if (!referenceEntry?.available) continue;
        const referenceSummary = comparableSummary(operation.name, referenceEntry.summary).summary;
        for (const check of report.ratioChecks(summary, referenceSummary)) {
          rows.push({ operation: `${operation.name}${suffix}`, referenceLabel: `${reference.label}${suffix}`, metricNote: check.metric === 'wallMs' ? metricNote : undefined, ...check });
        }
      }
      if (!references.length) {
        const quotedKey = operation.name === 'wal-push' ? 'wal-push' : operation.name.replace(/-s50$/, '');
        const quoted = operation.name.endsWith('-s50') || operation.name === 'wal-push' ? report.quotedWalgFigures.operations[quotedKey] : undefined;
        if (!quoted) continue;
        for (const check of report.ratioChecks(summary, quoted, { quoted: true })) {
          rows.push({ operation: operation.name, referenceLabel: 'WAL-G v3.0.8', metricNote: check.metric === 'wallMs' ? metricNote : undefined, ...check });
        }
      }
    }
  }
  return rows;
}

/** The summary an operation's ratios compare: wall means per segment for wal-push and per archived segment for archive. */
function comparableSummary(operationName, summary) {
  if (operationName === 'wal-push') return { summary: { ...summary, wallMs: summary.perSegmentWallMs }, metricNote: 'per segment' };
  if (operationName === 'archive') return { summary: { ...summary, wallMs: summary.msPerSegment }, metricNote: 'per archived segment' };
  return { summary, metricNote: undefined };
}

/** The issue's other acceptance lines this run can speak to. */
function acceptanceChecks(bench) {
  const checks = [];
  const candidate = bench.tools.find((tool) => tool.role === 'candidate');
  const archive = bench.results.operations.archive;
  const daemon = archive?.tools[`${candidate.label} daemon`];
  const pgbackrest = archive?.tools['pgbackrest async'];
  if (daemon?.available && pgbackrest?.available) {
    const ours = daemon.summary.segmentsPerSecond?.median;
    const theirs = pgbackrest.summary.segmentsPerSecond?.median;
    checks.push({ check: 'archive throughput, daemon mode ≥ pgBackRest async', value: `${ours.toFixed(2)} vs ${theirs.toFixed(2)} segments/s`, met: ours >= theirs });
  } else if (archive) {
    checks.push({ check: 'archive throughput, daemon mode ≥ pgBackRest async', value: `not measured (${!daemon?.available ? `${candidate.label} daemon: ${daemon?.reason ?? 'not run'}` : 'pgBackRest not run (--pgbackrest)'})`, met: undefined });
  }
  for (const kind of ['backup-push', 'backup-fetch']) {
    const peaks = Object.values(bench.results.operations)
      .filter((operation) => operation.name.startsWith(`${kind}/pgbench-`) && operation.tools[candidate.label]?.available)
      .map((operation) => ({ name: operation.name, rss: operation.tools[candidate.label].summary.vmHwmKiB?.median }));
    if (peaks.length >= 2) {
      const values = peaks.map((p) => p.rss);
      const difference = Math.max(...values) / Math.min(...values) - 1;
      checks.push({ check: `${kind} peak RSS differs by < 10% between cluster sizes`, value: `${peaks.map((p) => `${p.name}: ${report.mib(p.rss)} MiB`).join(', ')} (${(difference * 100).toFixed(1)}%)`, met: difference < 0.1 });
    }
  }
  return checks;
}

function markdownReport(bench, ratios, acceptance, charts) {
  const { machine, options } = bench.results;
  const lines = [];
  lines.push(`# walnut benchmark, ${bench.results.startedAt.slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, vm.overcommit_memory=${machine.overcommitMemory}; load average at start ${machine.loadAverageAtStart.join(' ')}. ${machine.postgres}. Harness on Node ${machine.node}. Wall time ${(bench.results.durationMs / 60000).toFixed(1)} min.`);
  lines.push('');
  lines.push(`Options: runs ${options.runs}, archive runs ${options.archiveRuns}, ${options.segments} segments, pgbench scale ${options.scales.join(', ')}, random cluster ${options.randomMiB} MiB, archive load ${options.loadSegments} segments, pgBackRest process-max ${options.pgbackrestProcessMax}${Object.keys(options.extraEnv).length ? `, env ${JSON.stringify(options.extraEnv)}` : ''}. Rounds alternate the tools (A B A B …); cells read "median (min–max)".`);
  lines.push('');
  lines.push('| tool | role | binary | version |');
  lines.push('|---|---|---|---|');
  for (const tool of bench.results.tools) lines.push(`| ${tool.label} | ${tool.role} | ${tool.binary ?? tool.commands ?? ''} | ${tool.version ?? ''}${tool.daemonClient ? `; client ${tool.daemonClient}` : ''} |`);
  lines.push('');
  lines.push(report.quotedFiguresBlock());
  lines.push('');
  lines.push('## Ratio checks (candidate ÷ reference)');
  lines.push('');
  if (ratios.length) {
    if (ratios.some((row) => row.quoted)) lines.push('No reference binary was given: the candidate is compared with the figures quoted above, measured elsewhere; wall-time ratios across machines are indicative only.\n');
    lines.push(report.ratioTable(ratios));
  } else lines.push('No ratio could be computed: no operation ran for both the candidate and a reference (or a quoted figure).');
  lines.push('');
  if (acceptance.length) {
    lines.push('| acceptance check | value | met |');
    lines.push('|---|---|---|');
    for (const check of acceptance) lines.push(`| ${check.check} | ${check.value} | ${check.met === undefined ? '–' : check.met ? 'yes' : '**no**'} |`);
    lines.push('');
  }
  for (const operation of Object.values(bench.results.operations)) {
    lines.push(`## ${operation.title}`);
    lines.push('');
    if (operation.error) {
      lines.push(`The operation failed: ${operation.error}`);
      lines.push('');
      continue;
    }
    lines.push(operation.description);
    lines.push('');
    lines.push(report.operationTable(operation));
    lines.push('');
    for (const file of charts[operation.name] ?? []) lines.push(`![${file}](${file})`);
    lines.push('');
  }
  lines.push('## How it is measured');
  lines.push('');
  lines.push('- Memory comes from /proc, sampled from outside: VmPeak and VmHWM (peak RSS) are the kernel\'s high-water marks; private writable is the sum of `rw-p` mappings in /proc/PID/maps (what `vm.overcommit_memory=2` charges), its peak over the samples. Single processes are sampled every ' +
    `${options.sampleMs} ms, process trees and long runs every ${options.treeSampleMs} ms; a process that lives shorter than one interval can go unseen, and only a process's last interval can hide a higher private-writable value.`);
  lines.push('- CPU is user+sys: for a single command the kernel\'s account of the reaped process tree (exact); under PostgreSQL (archive_command, restore_command, daemons) the sum of each tool process\'s last sample.');
  lines.push('- Every command of a wal-g-compatible tool runs as the cluster\'s OS user with file storage and lz4 (`WALG_FILE_PREFIX`, `WALG_COMPRESSION_METHOD=lz4`); binaries are copied into the work directory first, so a rebuild during the run changes nothing.');
  lines.push('- "not available" means the tool answered "not implemented yet" or failed; the harness carries on without it.');
  lines.push('- The machine is shared (2 cores): other work running at the same time shows as spread; compare medians of the same run, not across runs.');
  lines.push('- Every run, with per-process records: results.json; the memory timelines behind the charts: timelines.json.');
  lines.push('');
  return lines.join('\n');
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const started = Date.now();
  const log = (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
  const owner = resolveClusterUser();
  const workDir = makeTempDir({ prefix: 'walnut-bench-', owner: { uid: owner.uid, gid: owner.gid }, mode: 0o755 });
  const home = join(workDir, 'home');
  mkdirSync(home, { mode: 0o700 });
  execFileSync('chown', [`${owner.uid}:${owner.gid}`, home]);
  const toolsDir = join(workDir, 'tools');
  // Storages live under one directory the cluster user owns: its commands create and write them.
  mkdirSync(join(workDir, 'storage'), { mode: 0o755 });
  execFileSync('chown', [`${owner.uid}:${owner.gid}`, join(workDir, 'storage')]);

  if (!existsSync(options.candidate)) throw new BenchUsageError(`the candidate ${options.candidate} does not exist: build it with node scripts/build.mjs or give --candidate`);
  const tools = [
    new WalgTool({ label: 'walnut', role: 'candidate', binary: options.candidate, daemonClient: options.daemonClients.walnut, toolsDir, home, extraEnv: options.extraEnv, owner }),
    ...options.references.map(
      ({ label, binary }) => new WalgTool({ label, role: 'reference', binary, daemonClient: options.daemonClients[label], toolsDir, home, extraEnv: options.extraEnv, owner }),
    ),
  ];
  if (options.pgbackrest) tools.push(new PgBackRestTool({ processMax: options.pgbackrestProcessMax, owner }));
  if (options.raw) tools.push(new RawTool());
  const labels = tools.map((tool) => tool.label);
  if (new Set(labels).size !== labels.length) throw new Error(`tool labels must differ: ${labels.join(', ')}; name references with --reference LABEL=PATH`);

  const bench = {
    options,
    owner,
    workDir,
    home,
    tools,
    log,
    results: { startedAt: startedAt.toISOString(), machine: machineDescription(), options, tools: tools.map((tool) => tool.describe()), operations: {} },
  };
  log(`work directory ${workDir}; tools: ${tools.map((tool) => `${tool.label} (${tool.version})`).join(', ')}`);

  const cleanups = [];
  try {
    if (options.ops.some((name) => ['wal-push', 'archive', 'wal-replay'].includes(name))) {
      bench.wal = await generateSegments({ workDir, owner, count: options.segments, log });
      cleanups.push(() => bench.wal.cluster.cleanup());
    }
    const attempt = async (name, run) => {
      try {
        const result = await run();
        Object.assign(bench.results.operations, result);
      } catch (error) {
        log(`${name} failed: ${error.stack ?? error}`);
        bench.results.operations[name] = { name, title: name, error: String(error.message ?? error), tools: {}, charts: {} };
      }
    };
    if (options.ops.includes('wal-push')) await attempt('wal-push', async () => ({ 'wal-push': await operations.walPushOperation(bench) }));
    if (options.ops.includes('archive')) {
      await attempt('archive', async () => {
        const archive = await prepareArchiveCluster({ workDir });
        try {
          return { archive: await operations.archiveOperation(bench, archive) };
        } finally {
          await archive.cluster.cleanup();
        }
      });
    }
    if (options.ops.includes('backup-push')) {
      await attempt('backup-push', async () => {
        const datasets = await prepareBackupClusters({ scales: options.scales, randomMiB: options.randomMiB, log });
        try {
          const pushed = await operations.backupPushOperations(bench, datasets);
          for (const dataset of datasets) await dataset.cluster.stop();
          const fetched = options.ops.includes('backup-fetch') ? await operations.backupFetchOperations(bench, datasets) : {};
          return { ...pushed, ...fetched };
        } finally {
          for (const dataset of datasets) await dataset.cluster.cleanup();
        }
      });
    }
    if (options.ops.includes('wal-replay')) await attempt('wal-replay', async () => ({ 'wal-replay': await operations.replayOperation(bench) }));
  } finally {
    for (const cleanup of cleanups) await cleanup();
    if (!options.keep) removeTempDir(workDir);
    else {
      keepTempDir(workDir);
      log(`kept the work directory ${workDir}`);
    }
  }

  bench.results.durationMs = Date.now() - started;
  const ratios = computeRatios(bench);
  const acceptance = acceptanceChecks(bench);
  bench.results.ratios = ratios;
  bench.results.acceptance = acceptance;

  const out = options.out ?? defaultOutputDirectory();
  mkdirSync(out, { recursive: true });
  const charts = {};
  for (const operation of Object.values(bench.results.operations)) {
    const files = [];
    const stem = operation.name.replace(/\//g, '-');
    if (operation.charts?.memory && Object.keys(operation.charts.memory.timelines).length) {
      const file = `memory-${stem}.svg`;
      writeFileSync(join(out, file), report.memoryChart(operation.charts.memory.title, operation.charts.memory.timelines));
      files.push(file);
    }
    if (operation.charts?.backlog && Object.keys(operation.charts.backlog.timelines).length) {
      const file = `backlog-${stem}.svg`;
      writeFileSync(join(out, file), report.backlogChart(operation.charts.backlog.title, operation.charts.backlog.timelines));
      files.push(file);
    }
    charts[operation.name] = files;
  }
  // The memory timelines behind the charts go to their own compact file, so results.json stays readable.
  const timelines = {};
  for (const operation of Object.values(bench.results.operations)) {
    for (const [label, entry] of Object.entries(operation.tools)) {
      if (!entry.chartTimeline) continue;
      timelines[operation.name] ??= {};
      timelines[operation.name][label] = {
        columns: ['tMs', 'processes', 'rssKiB', 'privateWritableKiB'],
        rows: entry.chartTimeline.map((p) => [Math.round(p.tMs), p.processes, Math.round(p.rssKiB), Math.round(p.privateWritableKiB)]),
      };
    }
  }
  writeFileSync(join(out, 'timelines.json'), `${JSON.stringify(timelines)}\n`);
  const round = (key, value) => (key === 'charts' || key === 'chartTimeline' ? undefined : typeof value === 'number' && !Number.isInteger(value) ? +value.toFixed(2) : value);
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(bench.results, round, 1)}\n`);
  const markdown = markdownReport(bench, ratios, acceptance, charts);
  writeFileSync(join(out, 'README.md'), markdown);
  process.stdout.write(`${markdown}\n`);
  log(`results in ${out} (README.md, results.json, timelines.json, ${Object.values(charts).flat().length} charts)`);
}

main().catch((error) => {
  if (error instanceof MissingToolError) {
    console.error(`bench: ${error.message}`);
    process.exitCode = 1;
    return;
  }
  if (error instanceof BenchUsageError) {
    console.error(`bench: ${error.message}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  console.error(`bench: ${error.stack ?? error}`);
  process.exitCode = 1;
});
