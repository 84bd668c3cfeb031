// Makes the inputs the benchmark needs with a real PostgreSQL 15: WAL segments written under pgbench (copied aside
// once, with a cold copy of the cluster they follow for replay), clusters to back up, and the archive write load.

import { spawn } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readdirSync, writeFileSync, rmSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, pgbench, postgresClientTool } from '../../tests/helpers/postgres.ts';
import { chownRecursive } from '../../tests/helpers/tmp.ts';

export const postgresMajor = 15;
export const segmentBytes = 16 * 1024 * 1024;
const segmentNamePattern = /^[0-9A-F]{24}$/;

/** Server settings for every benchmark cluster: room for WAL, no surprise checkpoints during a measurement. */
const benchServerSettings = { max_wal_size: '4GB', checkpoint_timeout: '30min', shared_buffers: '128MB' };

/** A pgbench script that writes a lot of WAL per transaction, mixed with TPC-B-like ones in the load. */
const walHeavyScript = 'insert into bench_wal_load (payload) select md5(g::text) || g from generate_series(1, 1000) g;\n';

/** Writes the WAL-heavy pgbench script next to the work files and creates its table; returns pgbench's -f argument. */
async function prepareWalLoad(cluster, workDir) {
  await cluster.query('create table if not exists bench_wal_load (payload text)');
  const script = join(workDir, 'wal-heavy.sql');
  writeFileSync(script, walHeavyScript);
  return script;
}

/** pgbench arguments of the archive write load: TPC-B-like plus bulk inserts, two clients, at most `seconds`. */
export function loadArguments(script, seconds) {
  return ['-n', '-c', '2', '-j', '2', '-T', String(seconds), '-b', 'tpcb-like@1', '-f', `${script}@1`];
}

/** Starts pgbench in the background; resolves to { stop(), done } where done resolves with its output. */
export function startPgbench(cluster, args) {
  const child = spawn(postgresClientTool('pgbench'), args, { env: { ...process.env, ...cluster.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const done = new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
  return { stop: () => child.kill('SIGINT'), done, pid: child.pid };
}

/** Transactions per second from pgbench's report, or undefined. */
export function pgbenchTps(output) {
  const match = /tps = ([\d.]+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function segmentsIn(directory) {
  return readdirSync(directory)
    .filter((name) => segmentNamePattern.test(name))
    .sort();
}

/**
 * Generates `count` real WAL segments: a PostgreSQL 15 cluster (pgbench scale 10) is stopped cleanly and copied
 * cold (the base a replay starts from), restarted with archive_command copying every finished segment aside, and
 * loaded with pgbench until enough segments exist. Returns { segmentsDir, segments (paths, in order), baseDir,
 * sourceDataDir, cluster (stopped; clean it up at the end) }. The first segment holds the base's checkpoint.
 */
export async function generateSegments({ workDir, owner, count, log }) {
  const segmentsDir = join(workDir, 'segments');
  mkdirSync(segmentsDir, { recursive: true, mode: 0o755 });
  chownSync(segmentsDir, owner.uid, owner.gid);
  const cluster = await startCluster({
    major: postgresMajor,
    keepAfterTest: true,
    conf: { ...benchServerSettings, archive_mode: 'on', archive_command: '/bin/true' },
  });
  await pgbench(cluster, ['-i', '-s', '10', '-q']);
  const script = await prepareWalLoad(cluster, workDir);
  await cluster.query('checkpoint');
  await cluster.stop();
  const baseDir = join(workDir, 'replay-base');
  cpSync(cluster.dataDir, baseDir, { recursive: true });
  chownRecursive(baseDir, owner);
  cluster.configure({ archive_command: `cp %p ${segmentsDir}/%f` });
  await cluster.start();
  const load = startPgbench(cluster, ['-n', '-c', '2', '-j', '2', '-T', '600', '-b', 'tpcb-like@1', '-f', `${script}@1`]);
  const started = Date.now();
  while (segmentsIn(segmentsDir).length < count) {
    if (Date.now() - started > 300_000) {
      load.stop();
      throw new Error(`generating ${count} WAL segments took over 5 minutes (have ${segmentsIn(segmentsDir).length}); see ${cluster.logFile}`);
    }
    await sleep(200);
  }
  load.stop();
  await load.done;
  await cluster.stop();
  const segments = segmentsIn(segmentsDir)
    .slice(0, count)
    .map((name) => join(segmentsDir, name));
  log(`generated ${segments.length} WAL segments under pgbench in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { segmentsDir, segments, baseDir, sourceDataDir: cluster.dataDir, cluster };
}

/** The byte size of a data directory without pg_wal's contents: what a base backup carries. */
export function dataDirectoryBytes(dataDir) {
  let total = 0;
  const visit = (path, top) => {
    for (const entry of readdirSync(path)) {
      if (top && entry === 'pg_wal') continue;
      const full = join(path, entry);
      const stats = lstatSync(full);
      if (stats.isDirectory()) visit(full, false);
      else if (stats.isFile()) total += stats.size;
    }
  };
  visit(dataDir, true);
  return total;
}

/**
 * The clusters backups are taken of: `pgbench-s<scale>` for each scale, and `random-<MiB>` (a table of random bytea
 * rows: incompressible, as encrypted or already compressed data is). Each cluster is running when returned.
 */
export async function prepareBackupClusters({ scales, randomMiB, log }) {
  const clusters = [];
  for (const scale of scales) {
    const started = Date.now();
    const cluster = await startCluster({ major: postgresMajor, keepAfterTest: true, conf: benchServerSettings });
    clusters.push({ name: `pgbench-s${scale}`, kind: 'pgbench', cluster });
    await pgbench(cluster, ['-i', '-s', String(scale), '-q']);
    await cluster.query('checkpoint');
    const bytes = dataDirectoryBytes(cluster.dataDir);
    clusters[clusters.length - 1].bytes = bytes;
    log(`cluster pgbench scale ${scale}: ${(bytes / 1048576).toFixed(0)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  if (randomMiB > 0) {
    const started = Date.now();
    const cluster = await startCluster({ major: postgresMajor, keepAfterTest: true, conf: benchServerSettings });
    clusters.push({ name: `random-${randomMiB}MiB`, kind: 'random', cluster });
    // 1000-byte rows stay inline (under the TOAST threshold), so the table is as incompressible as its bytes.
    const rows = Math.round((randomMiB * 1048576) / 1000 / 1.1);
    await cluster.query(
      `create extension if not exists pgcrypto; create table random_data (b bytea); ` +
        `insert into random_data select gen_random_bytes(1000) from generate_series(1, ${rows}); checkpoint`,
    );
    const bytes = dataDirectoryBytes(cluster.dataDir);
    clusters[clusters.length - 1].bytes = bytes;
    log(`cluster of random bytea: ${(bytes / 1048576).toFixed(0)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return clusters;
}

/** A cluster for the archive benchmark: archive_mode on (archive_command switched per run), the load ready. */
export async function prepareArchiveCluster({ workDir }) {
  const cluster = await startCluster({
    major: postgresMajor,
    keepAfterTest: true,
    conf: { ...benchServerSettings, archive_mode: 'on', archive_command: '/bin/true' },
  });
  await pgbench(cluster, ['-i', '-s', '10', '-q']);
  const script = await prepareWalLoad(cluster, workDir);
  return { cluster, script };
}

/** Removes a directory tree if it exists. */
export function removeTree(path) {
  rmSync(path, { recursive: true, force: true });
}
