// The five benchmark operations of the Performance issue — wal-push, archiving under load, backup-push,
// backup-fetch, WAL replay — each run for every tool in alternating rounds and measured from /proc.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startClusterOnDataDir } from '../../tests/helpers/postgres.ts';
import { chownRecursive, registerExitCleanup } from '../../tests/helpers/tmp.ts';
import { ProcessTreeSampler, maxOf, median, readStat, runSampled } from './proc-sampler.mjs';
import { freshDirectory, isNotImplemented } from './tools.mjs';
import { loadArguments, pgbenchTps, postgresMajor, segmentBytes, startPgbench } from './workloads.mjs';
import { medianRun, summarizeRuns } from './report.mjs';

const mebibyte = 1024 * 1024;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An operation's result skeleton: per participant label, availability, runs and the summary filled in later. */
function newOperation(name, title, description, columns) {
  return { name, title, description, columns, tools: {}, charts: {} };
}

function participantEntry(operation, label, note) {
  operation.tools[label] ??= { available: true, runs: [], note };
  return operation.tools[label];
}

function markUnavailable(entry, reason) {
  entry.available = false;
  entry.reason = reason;
}

/** The first meaningful line of a failed command's output, for a "not available" cell. */
function failureReason(result) {
  const text = `${result.stderr}\n${result.stdout}`.trim();
  const line = text.split('\n').find((l) => /error|not implemented|fatal|failed/i.test(l)) ?? text.split('\n')[0] ?? '';
  const how = result.signal ? `killed by ${result.signal}` : `exit ${result.code}`;
  return `${isNotImplemented(result) ? 'not implemented yet' : how}${line ? `: ${line.replace(/^ERROR: \S+ /, '').slice(0, 160)}` : ''}`;
}

/** Per-process peaks of a list of process records, as the summary fields of one run. */
function processPeaks(processes) {
  return {
    vmPeakKiB: maxOf(processes, 'vmPeakKiB'),
    vmHwmKiB: maxOf(processes, 'vmHwmKiB'),
    privateWritableKiB: maxOf(processes, 'privateWritableKiB'),
    medianVmHwmKiB: processes.length ? median(processes.map((p) => p.vmHwmKiB)) : undefined,
    medianPrivateWritableKiB: processes.length ? median(processes.map((p) => p.privateWritableKiB)) : undefined,
    processes: processes.length,
    cpuMs: processes.reduce((sum, p) => sum + p.cpuMs, 0),
  };
}

/** Compact per-process records for the JSON output. */
function compactProcesses(processes) {
  return processes.map((p) => ({
    exe: basename(p.exe),
    ms: +(p.lastMs - p.firstMs).toFixed(1),
    vmPeakKiB: p.vmPeakKiB,
    vmHwmKiB: p.vmHwmKiB,
    privateWritableKiB: p.privateWritableKiB,
    threads: p.threads,
    cpuMs: p.cpuMs,
  }));
}

/**
 * Summarizes each participant's runs and keeps one memory timeline — the median run's, thinned — for the chart and
 * the JSON; the other runs' timelines would make the results file megabytes long and say nothing new.
 */
function finishOperation(operation, chartField = 'wallMs') {
  for (const entry of Object.values(operation.tools)) {
    entry.summary = summarizeRuns(entry.runs);
    const typical = medianRun(entry.runs, chartField);
    entry.chartTimeline = typical?.timeline ? thinTimeline(typical.timeline) : undefined;
    for (const run of entry.runs) delete run.timeline;
  }
  return operation;
}

/** At most about `limit` points: every n-th, plus the points where RSS and private writable peak. */
export function thinTimeline(timeline, limit = 400) {
  if (timeline.length <= limit) return timeline;
  const step = Math.ceil(timeline.length / limit);
  let rssPeak = 0;
  let writablePeak = 0;
  timeline.forEach((point, index) => {
    if (point.rssKiB > timeline[rssPeak].rssKiB) rssPeak = index;
    if (point.privateWritableKiB > timeline[writablePeak].privateWritableKiB) writablePeak = index;
  });
  return timeline.filter((_, index) => index % step === 0 || index === rssPeak || index === writablePeak || index === timeline.length - 1);
}

function runAs(bench, spec, options = {}) {
  return runSampled(spec.cmd, spec.args, {
    env: spec.env,
    uid: bench.owner.uid,
    gid: bench.owner.gid,
    cwd: bench.workDir,
    intervalMs: options.intervalMs ?? bench.options.sampleMs,
    timeoutMs: options.timeoutMs ?? 30 * 60_000,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (a) wal-push of real segments, one process per segment

/** Who takes part in wal-push: each wal-g tool, pgBackRest's archive-push, and the raw lz4 and cp per segment. */
function walPushParticipants(bench) {
  const participants = [];
  for (const tool of bench.tools) {
    if (tool.kind === 'walg') {
      participants.push({ label: tool.label, tool, prepare: (storage) => storage, spec: (segment, storage) => tool.walPush(segment, storage) });
    } else if (tool.kind === 'pgbackrest') {
      participants.push({
        label: 'pgbackrest',
        note: 'archive-push, sync',
        tool,
        prepare: async (storage) => {
          const config = tool.writeConfig(storage, { pgData: bench.wal.sourceDataDir });
          const created = await runAs(bench, tool.stanzaCreate(config, { online: false }));
          if (created.code !== 0) throw new Error(`pgbackrest stanza-create failed: ${failureReason(created)}`);
          return config;
        },
        spec: (segment, config) => tool.walPush(segment, config),
      });
    } else if (tool.kind === 'raw') {
      participants.push({ label: 'raw lz4', note: 'lz4 -1 per segment', tool, prepare: (storage) => storage, spec: (segment, storage) => tool.walPush(segment, storage) });
      participants.push({ label: 'raw cp', note: 'cp per segment', tool, prepare: (storage) => storage, spec: (segment, storage) => tool.copySegment(segment, storage) });
    }
  }
  return participants;
}

export async function walPushOperation(bench) {
  const operation = newOperation(
    'wal-push',
    '(a) wal-push of real 16 MiB segments, one process per segment',
    `${bench.wal.segments.length} segments written by PostgreSQL ${postgresMajor} under pgbench, pushed one process each into a fresh file storage per run; memory peaks are per process (max over the run's processes; median process alongside), CPU summed over them.`,
    ['perSegmentWallMs', 'wallMs', 'throughputMiBps', 'cpuMs', 'vmPeakKiB', 'vmHwmKiB', 'privateWritableKiB', 'medianVmHwmKiB'],
  );
  const participants = walPushParticipants(bench);
  // A segment directory looks like pg_wal (an empty archive_status beside it), so no tool uploads more than asked.
  mkdirSync(join(bench.wal.segmentsDir, 'archive_status'), { recursive: true });
  for (const participant of participants) {
    const entry = participantEntry(operation, participant.label, participant.note);
    // Warm-up, untimed: the first run of a binary pays for the page cache (and walnut's addon extraction).
    try {
      const storage = freshDirectory(join(bench.workDir, 'storage', 'warm-up'), bench.owner);
      const target = await participant.prepare(storage);
      const result = await runAs(bench, participant.spec(bench.wal.segments[0], target));
      if (result.code !== 0) markUnavailable(entry, failureReason(result));
    } catch (error) {
      markUnavailable(entry, error.message);
    }
    if (!entry.available) bench.log(`wal-push: ${participant.label} is not available: ${entry.reason}`);
  }
  for (let round = 0; round < bench.options.runs; round++) {
    for (const participant of participants) {
      const entry = operation.tools[participant.label];
      if (!entry.available) continue;
      const storage = freshDirectory(join(bench.workDir, 'storage', `wal-push-${participant.label.replace(/\W/g, '_')}`), bench.owner);
      const target = await participant.prepare(storage);
      const results = [];
      for (const segment of bench.wal.segments) {
        const result = await runAs(bench, participant.spec(segment, target));
        if (result.code !== 0) {
          markUnavailable(entry, failureReason(result));
          break;
        }
        results.push(result);
      }
      if (!entry.available) break;
      // A process that lived shorter than one sampling interval was never seen: no peaks to count.
      const processes = results.filter((r) => r.vmHwmKiB > 0).map((r) => ({ ...r, firstMs: 0, lastMs: r.wallMs, cpuMs: r.cpuMs, exe: participant.label }));
      const wallMs = results.reduce((sum, r) => sum + r.wallMs, 0);
      const typical = [...results].sort((x, y) => x.wallMs - y.wallMs)[(results.length - 1) >> 1];
      entry.runs.push({
        round,
        wallMs,
        perSegmentWallMs: median(results.map((r) => r.wallMs)),
        throughputMiBps: (results.length * segmentBytes) / mebibyte / (wallMs / 1000),
        ...processPeaks(processes),
        processes: results.length,
        unsampledProcesses: results.length - processes.length,
        cpuMs: results.reduce((sum, r) => sum + r.cpuMs, 0),
        threads: maxOf(results, 'threads'),
        perProcess: results.map((r) => ({ wallMs: +r.wallMs.toFixed(1), cpuMs: r.cpuMs, vmPeakKiB: r.vmPeakKiB, vmHwmKiB: r.vmHwmKiB, privateWritableKiB: r.privateWritableKiB })),
        timeline: typical.timeline,
      });
      bench.log(`wal-push round ${round + 1}: ${participant.label} ${(wallMs / 1000).toFixed(2)} s for ${results.length} segments`);
    }
  }
  finishOperation(operation);
  operation.charts.memory = { title: 'wal-push: memory of one typical process (median run, median segment)', timelines: chartTimelines(operation) };
  return operation;
}

function chartTimelines(operation) {
  const timelines = {};
  for (const [label, entry] of Object.entries(operation.tools)) if (entry.available && entry.chartTimeline) timelines[label] = entry.chartTimeline;
  return timelines;
}

/**
 * Why a wal-g tool cannot wal-push (undefined when it can): from the wal-push operation when it ran, else from
 * pushing one segment into a scratch storage. Archiving and replay need it before they spend a minute on a load.
 */
export async function walPushProblem(bench, tool) {
  const measured = bench.results.operations['wal-push']?.tools[tool.label];
  if (measured) return measured.available ? undefined : measured.reason;
  bench.walPushProbes ??= new Map();
  if (!bench.walPushProbes.has(tool.label)) {
    const storage = freshDirectory(join(bench.workDir, 'storage', 'probe'), bench.owner);
    mkdirSync(join(bench.wal.segmentsDir, 'archive_status'), { recursive: true });
    const result = await runAs(bench, tool.walPush(bench.wal.segments[0], storage));
    bench.walPushProbes.set(tool.label, result.code === 0 ? undefined : failureReason(result));
    rmSync(storage, { recursive: true, force: true });
  }
  return bench.walPushProbes.get(tool.label);
}

// ---------------------------------------------------------------------------------------------------------------
// (b) archiving under a pgbench write load

function archiverPid(postmasterPid) {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readStat(Number(name)).ppid !== postmasterPid) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').startsWith('postgres: archiver')) return Number(name);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

function countReady(dataDir) {
  try {
    return readdirSync(join(dataDir, 'pg_wal', 'archive_status')).filter((name) => name.endsWith('.ready')).length;
  } catch {
    return 0;
  }
}

async function setArchiveCommand(cluster, command) {
  cluster.configure({ archive_command: command });
  await cluster.query('select pg_reload_conf()');
  // The archiver picks the new command up at its next loop; give it a moment.
  await sleep(300);
}

async function archiverStats(cluster) {
  const [archived, failed, lastArchived] = (await cluster.query('select archived_count, failed_count, coalesce(last_archived_wal, \'\') from pg_stat_archiver')).split('|');
  return { archived: Number(archived), failed: Number(failed), lastArchived };
}

/** Starts a wal-g daemon as the cluster user; resolves once its socket exists, or rejects with why it did not. */
async function startDaemon(bench, spec, socketPath) {
  const child = spawn(spec.cmd, spec.args, {
    env: spec.env,
    cwd: bench.workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(process.getuid?.() === 0 ? { uid: bench.owner.uid, gid: bench.owner.gid } : {}),
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  let exited = false;
  const closed = new Promise((resolve) => child.on('close', (code) => ((exited = true), resolve(code))));
  const unregister = registerExitCleanup(`stop the benchmark daemon ${child.pid}`, () => {
    if (!exited) child.kill('SIGKILL');
  });
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    const timer = setTimeout(() => !exited && child.kill('SIGKILL'), 5000);
    await closed;
    clearTimeout(timer);
    unregister();
  };
  const deadline = Date.now() + 10_000;
  while (!existsSync(socketPath)) {
    if (exited || Date.now() > deadline) {
      await stop();
      const result = { code: child.exitCode, signal: null, stdout: output, stderr: output };
      throw new Error(exited ? failureReason(result) : `no socket ${socketPath} after 10 s: ${output.trim().slice(0, 200)}`);
    }
    await sleep(50);
  }
  return { pid: child.pid, stop, output: () => output };
}

/** Who takes part in archiving: each wal-g tool in archive_command and daemon mode, pgBackRest async, raw lz4. */
function archiveParticipants(bench) {
  const participants = [];
  const anyClient = bench.tools.find((tool) => tool.kind === 'walg' && tool.daemonClient)?.daemonClient;
  for (const tool of bench.tools) {
    if (tool.kind === 'walg') {
      participants.push({ label: `${tool.label} archive_command`, tool, mode: 'archive_command' });
      const client = tool.daemonClient ?? anyClient;
      participants.push({
        label: `${tool.label} daemon`,
        tool,
        mode: 'daemon',
        client,
        note: tool.daemonClient ? undefined : client ? `client: ${client}` : undefined,
      });
    } else if (tool.kind === 'pgbackrest') {
      participants.push({ label: 'pgbackrest async', tool, mode: 'pgbackrest-async', note: `archive-async, process-max ${tool.processMax}` });
    } else if (tool.kind === 'raw') {
      participants.push({ label: 'raw lz4', tool, mode: 'raw', note: 'lz4 -1 in archive_command' });
    }
  }
  return participants;
}

export async function archiveOperation(bench, archive) {
  const { cluster, script } = archive;
  const loadSegments = bench.options.loadSegments;
  const operation = newOperation(
    'archive',
    '(b) archive throughput under a pgbench write load',
    `pgbench (2 clients, TPC-B-like mixed with bulk inserts) on PostgreSQL ${postgresMajor} until it has written ${loadSegments} segments of WAL (the same volume for every participant; an archiver that takes CPU from the load makes it last longer), archive_mode on. segments/s counts from the load's start until the .ready backlog is empty again (pg_switch_wal at the end). Memory per tool process (max over processes, median process, and the sum of all at once); CPU summed over the tool's processes as sampled.`,
    ['segmentsPerSecond', 'archivedSegments', 'backlogMax', 'drainMs', 'loadWalMiBps', 'cpuMs', 'vmPeakKiB', 'vmHwmKiB', 'privateWritableKiB', 'medianVmHwmKiB', 'totalRssPeakKiB', 'processes', 'failedAttempts'],
  );
  const participants = archiveParticipants(bench);
  for (const participant of participants) {
    const entry = participantEntry(operation, participant.label, participant.note);
    if (participant.tool.kind === 'walg') {
      const pushProblem = await walPushProblem(bench, participant.tool);
      if (pushProblem) markUnavailable(entry, `wal-push: ${pushProblem}`);
    }
    if (participant.mode === 'daemon' && !participant.client) markUnavailable(entry, 'no walg-daemon-client next to the binary (or given with --daemon-client)');
  }
  for (let round = 0; round < bench.options.archiveRuns; round++) {
    for (const participant of participants) {
      const entry = operation.tools[participant.label];
      if (!entry.available) continue;
      try {
        const run = await archiveRun(bench, cluster, script, participant, loadSegments);
        if (run.unavailable) {
          markUnavailable(entry, run.unavailable);
          bench.log(`archive: ${participant.label} is not available: ${run.unavailable}`);
          continue;
        }
        entry.runs.push({ round, ...run });
        bench.log(
          `archive round ${round + 1}: ${participant.label} ${run.archivedSegments} segments, ${run.segmentsPerSecond.toFixed(2)}/s, max backlog ${run.backlogMax}${run.drained ? '' : ' (NOT drained)'}`,
        );
      } catch (error) {
        markUnavailable(entry, error.message.split('\n')[0]);
        bench.log(`archive: ${participant.label} failed: ${error.message}`);
      } finally {
        await setArchiveCommand(cluster, '/bin/true');
      }
    }
  }
  finishOperation(operation, 'segmentsPerSecond');
  operation.charts.memory = { title: `archiving under load: RSS and private writable of all tool processes at once (median run)`, timelines: chartTimelines(operation) };
  const backlogs = {};
  for (const [label, entry] of Object.entries(operation.tools)) {
    const typical = medianRun(entry.runs, 'segmentsPerSecond');
    if (typical?.backlog) backlogs[label] = typical.backlog;
  }
  operation.charts.backlog = { title: `.ready backlog while pgbench writes ${loadSegments} segments of WAL (median run)`, timelines: backlogs };
  return operation;
}

async function archiveRun(bench, cluster, script, participant, loadSegments) {
  const { tool } = participant;
  const storage = freshDirectory(join(bench.workDir, 'storage', `archive-${participant.label.replace(/\W/g, '_')}`), bench.owner);
  let daemon;
  let command;
  // Start from an empty backlog and a fresh segment, so every run archives the same kind of WAL.
  await cluster.query('truncate bench_wal_load; checkpoint');
  await cluster.query('select pg_switch_wal()');
  for (let waited = 0; countReady(cluster.dataDir) > 0 && waited < 100; waited++) await sleep(100);
  if (participant.mode === 'archive_command') {
    command = tool.archiveCommand(storage);
  } else if (participant.mode === 'daemon') {
    const socketPath = join(bench.workDir, `daemon-${process.pid}.sock`);
    rmSync(socketPath, { force: true });
    try {
      daemon = await startDaemon(bench, tool.daemon(socketPath, storage, cluster.dataDir), socketPath);
    } catch (error) {
      return { unavailable: `daemon: ${error.message}` };
    }
    command = tool.daemonArchiveCommand(socketPath, participant.client);
  } else if (participant.mode === 'pgbackrest-async') {
    const config = tool.writeConfig(storage, { pgData: cluster.dataDir, socketDir: cluster.socketDir, port: cluster.port, async: true });
    const created = await runAs(bench, tool.stanzaCreate(config, { online: true }));
    if (created.code !== 0) return { unavailable: `stanza-create: ${failureReason(created)}` };
    command = tool.archiveCommand(config);
  } else {
    command = tool.archiveCommand(storage);
  }
  try {
    await setArchiveCommand(cluster, command);
    const postmaster = cluster.postmasterPid();
    const before = await archiverStats(cluster);
    const startLsn = await cluster.query('select pg_current_wal_lsn()');
    const exes = new Set(tool.exes);
    const sampler = new ProcessTreeSampler({
      roots: () => [postmaster, daemon?.pid],
      select: ({ exe }) => exes.has(exe),
      intervalMs: bench.options.treeSampleMs,
    }).start();
    const backlog = [];
    const loadStarted = Date.now();
    const backlogTimer = setInterval(() => backlog.push({ tMs: Date.now() - loadStarted, ready: countReady(cluster.dataDir) }), 250);
    // A fixed volume of WAL, not a fixed time: every participant archives the same amount.
    const load = startPgbench(cluster, loadArguments(script, bench.options.loadTimeoutSeconds));
    const targetBytes = loadSegments * segmentBytes;
    let loadFinished = false;
    load.done.then(() => (loadFinished = true));
    while (!loadFinished) {
      const written = Number(await cluster.query(`select pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}')`));
      if (written >= targetBytes) break;
      await sleep(100);
    }
    load.stop();
    const loadResult = await load.done;
    const loadEnded = Date.now();
    const [endLsn, lastSegment] = (await cluster.query('select pg_current_wal_lsn(), pg_walfile_name(pg_current_wal_lsn())')).split('|');
    await cluster.query('select pg_switch_wal()');
    let drained = false;
    let stats = before;
    const drainDeadline = Date.now() + bench.options.drainTimeoutSeconds * 1000;
    while (Date.now() < drainDeadline) {
      stats = await archiverStats(cluster);
      if (stats.lastArchived >= lastSegment && countReady(cluster.dataDir) === 0) {
        drained = true;
        break;
      }
      // Nothing archived and attempts failing: the command does not work; waiting out the timeout tells nothing.
      if (stats.archived === before.archived && stats.failed - before.failed >= 3) break;
      await sleep(100);
    }
    const drainEnded = Date.now();
    clearInterval(backlogTimer);
    backlog.push({ tMs: drainEnded - loadStarted, ready: countReady(cluster.dataDir) });
    const { processes, timeline, peaks } = sampler.stop();
    const producedBytes = Number(await cluster.query(`select pg_wal_lsn_diff('${endLsn}', '${startLsn}')`));
    const archivedSegments = stats.archived - before.archived;
    const failedAttempts = stats.failed - before.failed;
    if (archivedSegments === 0 && failedAttempts > 0) {
      const log = cluster.logTail(200);
      return { unavailable: /not implemented yet/i.test(log) ? 'not implemented yet' : `every archive attempt failed (${failedAttempts}); see the server log` };
    }
    return {
      segmentsPerSecond: archivedSegments / ((drainEnded - loadStarted) / 1000),
      msPerSegment: archivedSegments ? (drainEnded - loadStarted) / archivedSegments : undefined,
      archivedSegments,
      producedSegments: producedBytes / segmentBytes,
      loadMs: loadEnded - loadStarted,
      drainMs: drainEnded - loadEnded,
      wallMs: drainEnded - loadStarted,
      drained,
      backlogMax: Math.max(0, ...backlog.map((b) => b.ready)),
      backlogAtLoadEnd: backlog.filter((b) => b.tMs <= loadEnded - loadStarted).at(-1)?.ready ?? 0,
      pgbenchTps: pgbenchTps(loadResult.output),
      loadWalMiBps: producedBytes / mebibyte / ((loadEnded - loadStarted) / 1000),
      failedAttempts,
      ...processPeaks(processes),
      totalRssPeakKiB: peaks.totalRssPeakKiB,
      totalPrivateWritablePeakKiB: peaks.totalPrivateWritablePeakKiB,
      perProcess: compactProcesses(processes),
      timeline,
      backlog,
    };
  } finally {
    await daemon?.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (c) backup-push and (d) backup-fetch

function backupParticipants(bench) {
  return bench.tools.map((tool) => ({
    label: tool.kind === 'raw' ? 'raw tar+lz4' : tool.label,
    note: tool.kind === 'raw' ? 'tar | lz4 -1 to /dev/null; fetch: lz4 -d | tar -x' : tool.kind === 'pgbackrest' ? `process-max ${tool.processMax}` : undefined,
    tool,
  }));
}

/**
 * backup-push of each dataset cluster by every tool, alternating, a fresh storage per run; the last storage of each
 * tool stays for backup-fetch. Returns the operations keyed `backup-push/<dataset>`.
 */
export async function backupPushOperations(bench, datasets) {
  const operations = {};
  for (const dataset of datasets) {
    const operation = newOperation(
      `backup-push/${dataset.name}`,
      `(c) backup-push of ${dataset.name} (${(dataset.bytes / mebibyte).toFixed(0)} MiB)`,
      `A running PostgreSQL ${postgresMajor} cluster, ${(dataset.bytes / mebibyte).toFixed(0)} MiB without pg_wal, into a fresh file storage per run (lz4). Throughput is the data directory's size over wall time. Memory: the largest process (all processes at once alongside).`,
      ['wallMs', 'throughputMiBps', 'cpuMs', 'vmPeakKiB', 'vmHwmKiB', 'privateWritableKiB', 'totalRssPeakKiB', 'processes'],
    );
    dataset.storages = {};
    const participants = backupParticipants(bench);
    for (const participant of participants) participantEntry(operation, participant.label, participant.note);
    for (let round = 0; round < bench.options.runs; round++) {
      for (const participant of participants) {
        const entry = operation.tools[participant.label];
        if (!entry.available) continue;
        const { tool } = participant;
        const storage = freshDirectory(join(bench.workDir, 'storage', `backup-${dataset.name}-${participant.label.replace(/\W/g, '_')}`), bench.owner);
        let spec;
        if (tool.kind === 'walg') spec = tool.backupPush(storage, dataset.cluster);
        else if (tool.kind === 'pgbackrest') {
          const config = tool.writeConfig(storage, { pgData: dataset.cluster.dataDir, socketDir: dataset.cluster.socketDir, port: dataset.cluster.port });
          const created = await runAs(bench, tool.stanzaCreate(config, { online: true }));
          if (created.code !== 0) {
            markUnavailable(entry, `stanza-create: ${failureReason(created)}`);
            continue;
          }
          spec = tool.backupPush(config);
          spec.config = config;
        } else spec = tool.backupPush(dataset.cluster.dataDir);
        const result = await runAs(bench, spec, { intervalMs: bench.options.treeSampleMs });
        if (result.code !== 0) {
          markUnavailable(entry, failureReason(result));
          bench.log(`backup-push ${dataset.name}: ${participant.label} is not available: ${entry.reason}`);
          continue;
        }
        if (tool.kind !== 'raw') dataset.storages[participant.label] = { tool, storage, config: spec.config };
        entry.runs.push(singleRunRecord(round, result, dataset.bytes));
        bench.log(`backup-push ${dataset.name} round ${round + 1}: ${participant.label} ${(result.wallMs / 1000).toFixed(2)} s, peak RSS ${(result.vmHwmKiB / 1024).toFixed(0)} MiB`);
      }
    }
    operations[operation.name] = finishOperation(operation);
    operation.charts.memory = { title: `backup-push of ${dataset.name}: memory over time (median run)`, timelines: chartTimelines(operation) };
  }
  return operations;
}

function singleRunRecord(round, result, bytes) {
  return {
    round,
    wallMs: result.wallMs,
    throughputMiBps: bytes / mebibyte / (result.wallMs / 1000),
    cpuMs: result.cpuMs,
    vmPeakKiB: result.vmPeakKiB,
    vmHwmKiB: result.vmHwmKiB,
    privateWritableKiB: result.privateWritableKiB,
    totalRssPeakKiB: result.totalRssPeakKiB,
    threads: result.threads,
    processes: result.processes.length,
    perProcess: compactProcesses(result.processes),
    timeline: result.timeline,
  };
}

/** backup-fetch of the backups backup-push left, into a fresh empty directory per run. */
export async function backupFetchOperations(bench, datasets) {
  const operations = {};
  for (const dataset of datasets) {
    const operation = newOperation(
      `backup-fetch/${dataset.name}`,
      `(d) backup-fetch of ${dataset.name} (${(dataset.bytes / mebibyte).toFixed(0)} MiB)`,
      `The backup the tool's own backup-push made (or, for a wal-g tool whose backup-push is not available, another wal-g tool's: same format), restored into an empty directory per run.`,
      ['wallMs', 'throughputMiBps', 'cpuMs', 'vmPeakKiB', 'vmHwmKiB', 'privateWritableKiB', 'totalRssPeakKiB', 'processes'],
    );
    const participants = backupParticipants(bench);
    const anyWalgStorage = Object.values(dataset.storages ?? {}).find((s) => s.tool.kind === 'walg');
    let rawArchive;
    for (const participant of participants) {
      const entry = participantEntry(operation, participant.label, participant.note);
      const { tool } = participant;
      if (tool.kind === 'walg' && !dataset.storages?.[participant.label]) {
        if (anyWalgStorage) entry.note = `backup made by ${anyWalgStorage.tool.label}`;
        else markUnavailable(entry, 'no backup to fetch: no wal-g tool could backup-push');
      } else if (tool.kind === 'pgbackrest' && !dataset.storages?.[participant.label]) {
        markUnavailable(entry, 'no backup to fetch: backup failed');
      } else if (tool.kind === 'raw') {
        rawArchive = join(bench.workDir, 'storage', `raw-${dataset.name}.tar.lz4`);
        const made = await runAs(bench, tool.backupPush(dataset.cluster.dataDir, rawArchive));
        if (made.code !== 0) markUnavailable(entry, failureReason(made));
      }
    }
    for (let round = 0; round < bench.options.runs; round++) {
      for (const participant of participants) {
        const entry = operation.tools[participant.label];
        if (!entry.available) continue;
        const { tool } = participant;
        const destination = freshDirectory(join(bench.workDir, `restore-${dataset.name}`), bench.owner, 0o700);
        let spec;
        if (tool.kind === 'walg') spec = tool.backupFetch((dataset.storages[participant.label] ?? anyWalgStorage).storage, destination);
        else if (tool.kind === 'pgbackrest') spec = tool.backupFetch(dataset.storages[participant.label].config, destination);
        else spec = tool.backupFetch(rawArchive, destination);
        const result = await runAs(bench, spec, { intervalMs: bench.options.treeSampleMs });
        rmSync(destination, { recursive: true, force: true });
        if (result.code !== 0) {
          markUnavailable(entry, failureReason(result));
          bench.log(`backup-fetch ${dataset.name}: ${participant.label} is not available: ${entry.reason}`);
          continue;
        }
        entry.runs.push(singleRunRecord(round, result, dataset.bytes));
        bench.log(`backup-fetch ${dataset.name} round ${round + 1}: ${participant.label} ${(result.wallMs / 1000).toFixed(2)} s, peak RSS ${(result.vmHwmKiB / 1024).toFixed(0)} MiB`);
      }
    }
    if (rawArchive) rmSync(rawArchive, { force: true });
    operations[operation.name] = finishOperation(operation);
    operation.charts.memory = { title: `backup-fetch of ${dataset.name}: memory over time (median run)`, timelines: chartTimelines(operation) };
  }
  return operations;
}

// ---------------------------------------------------------------------------------------------------------------
// (e) WAL replay through restore_command

/** Milliseconds since the epoch of a server log line's '%m' prefix ("2026-11-23 23:53:36.123 UTC"). */
export function logLineTime(line) {
  const match = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) (\w+)/.exec(line);
  if (!match) return undefined;
  const zone = match[3] === 'UTC' || match[3] === 'GMT' ? 'Z' : '';
  const time = Date.parse(`${match[1]}T${match[2]}${zone}`);
  return Number.isNaN(time) ? undefined : time;
}

/** Replay duration and restored segments from a recovering server's log; undefined fields when not found. */
export function replayFromLog(logText) {
  const lines = logText.split('\n');
  const first = lines.find((line) => /starting archive recovery|starting point-in-time recovery/.test(line));
  const last = lines.find((line) => /archive recovery complete/.test(line)) ?? lines.findLast((line) => /ready to accept connections/.test(line));
  // A segment can be restored twice (the last one again after the timeline switch): count names, not lines.
  const restored = new Set(lines.map((line) => /restored log file "([0-9A-F]{24})" from archive/.exec(line)?.[1]).filter(Boolean)).size;
  const start = first ? logLineTime(first) : undefined;
  const end = last ? logLineTime(last) : undefined;
  return { replayMs: start !== undefined && end !== undefined ? end - start : undefined, restoredSegments: restored };
}

async function waitUntilPromoted(cluster, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!cluster.isRunning()) throw new Error(`the replaying server stopped; last log lines:\n${cluster.logTail(15)}`);
    try {
      if ((await cluster.query('select pg_is_in_recovery()')) === 'f') return;
    } catch {
      /* not accepting connections yet */
    }
    await sleep(100);
  }
  throw new Error(`recovery did not end within ${timeoutMs / 1000} s; last log lines:\n${cluster.logTail(15)}`);
}

/** Where the wal-push operation's last round left a participant's archive (every segment), if it ran. */
function walPushStorage(bench, label) {
  const entry = bench.results.operations['wal-push']?.tools[label];
  return entry?.available && entry.runs.length ? join(bench.workDir, 'storage', `wal-push-${label.replace(/\W/g, '_')}`) : undefined;
}

/**
 * Each tool's archive of the replay segments: the one its wal-push runs left, or one made now (untimed): its own
 * wal-push, else the lz4 CLI in WAL-G's layout. Returns label -> { restoreCommand(dataDir), note }.
 */
async function prepareReplayArchives(bench) {
  const archives = {};
  const segments = bench.wal.segments;
  for (const tool of bench.tools) {
    const label = tool.kind === 'raw' ? 'raw lz4' : tool.label;
    const pushed = walPushStorage(bench, label);
    if (pushed) {
      archives[label] =
        tool.kind === 'pgbackrest'
          ? { tool, restoreCommand: (dataDir) => tool.restoreCommand(tool.writeConfig(pushed, { pgData: dataDir })) }
          : { tool, storage: pushed, note: tool.kind === 'raw' ? 'lz4 -d in restore_command' : undefined, restoreCommand: () => tool.restoreCommand(pushed) };
      continue;
    }
    const storage = freshDirectory(join(bench.workDir, 'storage', `replay-${label.replace(/\W/g, '_')}`), bench.owner);
    if (tool.kind === 'walg') {
      const pushAvailable = (await walPushProblem(bench, tool)) === undefined;
      let note;
      let pushed = pushAvailable;
      if (pushAvailable) {
        for (const segment of segments) {
          const result = await runAs(bench, tool.walPush(segment, storage));
          if (result.code !== 0) {
            pushed = false;
            break;
          }
        }
      }
      if (!pushed) {
        // WAL-G's layout is wal_005/<name>.lz4 holding an LZ4 frame: exactly what the lz4 CLI writes.
        const walDir = freshDirectory(join(storage, 'wal_005'), bench.owner);
        for (const segment of segments) {
          const result = await runAs(bench, { cmd: 'lz4', args: ['-1', '-q', '-f', segment, join(walDir, `${basename(segment)}.lz4`)], env: { PATH: process.env.PATH } });
          if (result.code !== 0) throw new Error(`lz4 of ${segment} failed: ${result.stderr}`);
        }
        note = 'archive written by the lz4 CLI in WAL-G layout';
      }
      archives[label] = { tool, storage, note, restoreCommand: () => tool.restoreCommand(storage) };
    } else if (tool.kind === 'pgbackrest') {
      const configFor = (pgData) => tool.writeConfig(storage, { pgData });
      const config = configFor(bench.wal.baseDir);
      const created = await runAs(bench, tool.stanzaCreate(config, { online: false }));
      if (created.code !== 0) {
        archives[label] = { tool, unavailable: `stanza-create: ${failureReason(created)}` };
        continue;
      }
      let failure;
      for (const segment of segments) {
        const result = await runAs(bench, tool.walPush(segment, config));
        if (result.code !== 0) {
          failure = failureReason(result);
          break;
        }
      }
      archives[label] = failure ? { tool, unavailable: `archive-push: ${failure}` } : { tool, restoreCommand: (dataDir) => tool.restoreCommand(configFor(dataDir)) };
    } else {
      for (const segment of segments) {
        await runAs(bench, tool.walPush(segment, storage));
      }
      archives[label] = { tool, note: 'lz4 -d in restore_command', restoreCommand: () => tool.restoreCommand(storage) };
    }
  }
  // Each wal-g tool with a walg-daemon-client also replays through its daemon: restore_command is the client,
  // the daemon (started per round on the copy's data directory) fetches from the same archive.
  for (const [label, archive] of Object.entries({ ...archives })) {
    const tool = archive.tool;
    if (tool.kind !== 'walg' || !tool.daemonClient || archive.unavailable || !archive.storage) continue;
    archives[`${label} daemon`] = {
      tool,
      note: archive.note,
      daemon: (socketPath, dataDir) => tool.daemon(socketPath, archive.storage, dataDir),
      restoreCommand: (_dataDir, socketPath) => tool.daemonRestoreCommand(socketPath),
    };
  }
  return archives;
}

export async function replayOperation(bench) {
  const operation = newOperation(
    'wal-replay',
    '(e) WAL replay through restore_command',
    `A cold copy of a PostgreSQL ${postgresMajor} cluster (its pg_wal emptied) recovers ${bench.wal.segments.length} archived segments through restore_command (wal-fetch %f %p for wal-g tools, or walg-daemon-client SOCKET wal-fetch %f %p with a daemon on the same archive; archive-get for pgBackRest), then promotes. Replay time is from "starting archive recovery" to "archive recovery complete" in the server log; memory and CPU are over the tool's processes.`,
    ['wallMs', 'segmentsPerSecond', 'replayedSegments', 'cpuMs', 'vmPeakKiB', 'vmHwmKiB', 'privateWritableKiB', 'medianVmHwmKiB', 'processes'],
  );
  const archives = await prepareReplayArchives(bench);
  for (const [label, archive] of Object.entries(archives)) {
    const entry = participantEntry(operation, label, archive.note);
    if (archive.unavailable) markUnavailable(entry, archive.unavailable);
  }
  for (let round = 0; round < bench.options.runs; round++) {
    for (const [label, archive] of Object.entries(archives)) {
      const entry = operation.tools[label];
      if (!entry.available) continue;
      const dataDir = join(bench.workDir, `replay-${label.replace(/\W/g, '_')}-${round}`);
      cpSync(bench.wal.baseDir, dataDir, { recursive: true });
      for (const name of readdirSync(join(dataDir, 'pg_wal'))) {
        if (/^[0-9A-F]{24}/.test(name)) rmSync(join(dataDir, 'pg_wal', name), { force: true });
      }
      chownRecursive(dataDir, bench.owner);
      const exes = new Set(archive.tool.exes);
      let postmaster;
      let daemon;
      const socketPath = join(bench.workDir, `replay-daemon-${process.pid}.sock`);
      if (archive.daemon) {
        try {
          daemon = await startDaemon(bench, archive.daemon(socketPath, dataDir), socketPath);
        } catch (error) {
          markUnavailable(entry, `daemon: ${error.message}`);
          rmSync(dataDir, { recursive: true, force: true });
          continue;
        }
      }
      const sampler = new ProcessTreeSampler({
        roots: () => {
          if (postmaster === undefined) {
            try {
              postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
            } catch {
              /* not started yet */
            }
          }
          return [postmaster, daemon?.pid];
        },
        select: ({ exe }) => exes.has(exe),
        intervalMs: bench.options.treeSampleMs,
      }).start();
      const started = Date.now();
      let cluster;
      try {
        cluster = await startClusterOnDataDir({
          dataDir,
          major: postgresMajor,
          signal: 'recovery',
          keepAfterTest: true,
          conf: { restore_command: archive.restoreCommand(dataDir, socketPath), archive_mode: 'off', max_wal_size: '4GB' },
        });
        await waitUntilPromoted(cluster, 20 * 60_000);
        const wallMs = Date.now() - started;
        const { processes, timeline } = sampler.stop();
        const fromLog = replayFromLog(readFileSync(cluster.logFile, 'utf8'));
        const replayMs = fromLog.replayMs ?? wallMs;
        if (fromLog.restoredSegments < bench.wal.segments.length) {
          const log = cluster.logTail(40);
          markUnavailable(entry, /not implemented yet/i.test(log) ? 'not implemented yet' : `restored ${fromLog.restoredSegments} of ${bench.wal.segments.length} segments; see the server log`);
          bench.log(`wal-replay: ${label} is not available: ${entry.reason}`);
          continue;
        }
        entry.runs.push({
          round,
          wallMs: replayMs,
          startToPromotedMs: wallMs,
          segmentsPerSecond: fromLog.restoredSegments / (replayMs / 1000),
          replayedSegments: fromLog.restoredSegments,
          ...processPeaks(processes),
          perProcess: compactProcesses(processes),
          timeline,
        });
        bench.log(`wal-replay round ${round + 1}: ${label} ${fromLog.restoredSegments} segments in ${(replayMs / 1000).toFixed(2)} s`);
      } catch (error) {
        sampler.stop();
        markUnavailable(entry, error.message.split('\n')[0]);
        bench.log(`wal-replay: ${label} failed: ${error.message}`);
      } finally {
        if (cluster) await cluster.cleanup();
        await daemon?.stop();
        rmSync(socketPath, { force: true });
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  finishOperation(operation);
  operation.charts.memory = { title: 'WAL replay: RSS and private writable of the tool processes at once (median run)', timelines: chartTimelines(operation) };
  return operation;
}
