// Integration tests of the real-PostgreSQL harness: every installed major starts, answers SQL, restarts, restores, stops, and leaves nothing behind, even when a test fails or its process is killed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  availablePostgresVersions,
  createEmptyDataDir,
  isProcessAlive,
  pgbench,
  PostgresHarnessError,
  postgresBinDir,
  resolveClusterUser,
  startCluster,
  startClusterOnDataDir,
  sweepAbandonedClusters,
  waitForRecoveryEnd,
  type Cluster,
} from '../helpers/postgres.ts';
import { makeTempDir, pendingExitCleanups, registerExitCleanup, removeTempDir, runExitCleanups } from '../helpers/tmp.ts';

const expectedMajors = [13, 14, 15, 16, 17, 18];
const majors = availablePostgresVersions();
const runningAsRoot = process.getuid?.() === 0;
const postgresHelperUrl = pathToFileURL(join(import.meta.dirname, '..', 'helpers', 'postgres.ts')).href;

async function waitUntilGone(pid: number): Promise<boolean> {
  // The postmaster's children outlive it by a moment, so poll briefly.
  for (let attempt = 0; attempt < 50 && isProcessAlive(pid); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  return !isProcessAlive(pid);
}

function assertGone(cluster: Pick<Cluster, 'rootDir' | 'dataDir'>, pid: number): Promise<void> {
  assert.equal(existsSync(cluster.dataDir), false, `data directory ${cluster.dataDir} should have been removed`);
  assert.equal(existsSync(cluster.rootDir), false, `cluster directory ${cluster.rootDir} should have been removed`);
  return waitUntilGone(pid).then((gone) => assert.ok(gone, `postmaster ${pid} should have exited`));
}

test('PostgreSQL 13 through 18 are all installed for the tests', { skip: process.env.WALNUT_TEST_PG_VERSIONS ? 'WALNUT_TEST_PG_VERSIONS limits the majors' : false }, () => {
  assert.deepEqual(majors, expectedMajors);
  for (const major of majors) assert.ok(existsSync(join(postgresBinDir(major), 'postgres')));
});

test('postgresBinDir names both places it looked when a major is missing', () => {
  assert.throws(() => postgresBinDir(9), (error: unknown) => {
    assert.ok(error instanceof PostgresHarnessError);
    assert.match(error.message, /PostgreSQL 9 is not installed: looked in \/usr\/lib\/postgresql\/9\/bin and .*node_modules\/pg9\/native\/bin/);
    return true;
  });
});

describe('every installed PostgreSQL major', { concurrency: 2 }, () => {
  for (const major of majors) {
    // One cluster per major walks through everything the integration tests lean on, to keep initdb runs few.
    test(`PostgreSQL ${major} runs unprivileged, stores rows, restarts, recovers a copy of its data directory, and is cleaned up`, async () => {
      const cluster = await startCluster({ major, conf: { work_mem: '2MB', cluster_name: "it's \\ quoted" } });
      let restored: Cluster | undefined;
      try {
        const expectedUser = resolveClusterUser();
        assert.equal(cluster.user, runningAsRoot ? 'walnut-test' : userInfo().username);
        const identity = await cluster.exec('id', ['-u']);
        assert.equal(identity.exitCode, 0, identity.stderr);
        assert.equal(identity.stdout.trim(), String(expectedUser.uid));
        if (runningAsRoot) assert.notEqual(expectedUser.uid, 0);
        const dataDirStats = statSync(cluster.dataDir);
        assert.equal(dataDirStats.mode & 0o777, 0o700);
        assert.equal(dataDirStats.uid, expectedUser.uid);

        const serverVersion = Number(await cluster.query('show server_version_num'));
        assert.equal(Math.floor(serverVersion / 10000), major);
        assert.equal(await cluster.query('show wal_level'), 'replica');
        assert.equal(await cluster.query('show fsync'), 'off');
        assert.equal(await cluster.query('show work_mem'), '2MB');
        assert.equal(await cluster.query('show cluster_name'), "it's \\ quoted");
        assert.equal(await cluster.query("select setting from pg_settings where name = 'port'"), String(cluster.port));
        const mainConf = readFileSync(join(cluster.dataDir, 'postgresql.conf'), 'utf8');
        assert.match(mainConf.trimEnd(), /include_if_exists 'walnut-harness\.conf'$/, 'harness settings are included last');

        await cluster.query("create table fruit (id int primary key, name text); insert into fruit values (1, 'apple'), (2, 'pear'), (3, null)");
        assert.equal(await cluster.query('select id, name from fruit order by id'), '1|apple\n2|pear\n3|');
        assert.equal((await cluster.psql(['-At', '-c', 'select count(*) from fruit'])).trim(), '3');

        const firstPid = cluster.postmasterPid();
        assert.ok(firstPid !== undefined);
        await cluster.stop();
        assert.equal(cluster.isRunning(), false);
        assert.ok(await waitUntilGone(firstPid), `postmaster ${firstPid} should have exited after stop()`);

        cluster.configure({ work_mem: '3MB' });
        await cluster.start();
        assert.equal(await cluster.query('show work_mem'), '3MB');
        await cluster.restart({ mode: 'immediate' });
        assert.equal(await cluster.query('select name from fruit where id = 2'), 'pear');

        // A restore in miniature: copy the stopped data directory, start it with recovery.signal and no archive
        // (restore_command fails), so recovery replays pg_wal and then promotes onto timeline 2.
        await cluster.stop();
        const restoredDataDir = createEmptyDataDir();
        const copy = await cluster.exec('cp', ['-a', `${cluster.dataDir}/.`, restoredDataDir]);
        assert.equal(copy.exitCode, 0, copy.stderr);
        restored = await startClusterOnDataDir({ dataDir: restoredDataDir, major, signal: 'recovery', conf: { restore_command: 'false' } });
        await waitForRecoveryEnd(restored);
        assert.notEqual(restored.port, cluster.port);
        assert.equal(await restored.query('select name from fruit where id = 1'), 'apple');
        assert.match(await restored.query('select pg_walfile_name(pg_current_wal_lsn())'), /^00000002/);
        assert.equal(existsSync(join(restoredDataDir, 'recovery.signal')), false, 'promotion removes recovery.signal');

        const restoredPid = restored.postmasterPid();
        assert.ok(restoredPid !== undefined);
        await restored.cleanup();
        await assertGone(restored, restoredPid);

        await cluster.start();
        const lastPid = cluster.postmasterPid();
        assert.ok(lastPid !== undefined);
        await cluster.cleanup();
        await assertGone(cluster, lastPid);
        await cluster.cleanup(); // a second cleanup is a no-op, as the after hook will call it again
      } finally {
        await restored?.cleanup();
        await cluster.cleanup();
      }
    });
  }

  test('pgbench from Debian initializes and runs against the oldest and the newest major', async () => {
    for (const major of new Set([majors[0], majors[majors.length - 1]])) {
      const cluster = await startCluster({ major });
      try {
        await pgbench(cluster, ['-i', '-s', '1', '-q']);
        assert.equal(await cluster.query('select count(*) from pgbench_accounts'), '100000');
        const report = await pgbench(cluster, ['-c', '2', '-t', '20', '-n']);
        assert.match(report, /number of transactions actually processed: 40\/40/);
      } finally {
        await cluster.cleanup();
      }
    }
  });
});

test('startClusterOnDataDir refuses a directory that holds no data directory', async () => {
  const emptyDataDir = createEmptyDataDir();
  await assert.rejects(startClusterOnDataDir({ dataDir: emptyDataDir, major: majors[0] }), /has no PG_VERSION file\): restore a backup into it first/);
});

test('a server that cannot start reports pg_ctl failure with the tail of the server log', async () => {
  const pendingBefore = pendingExitCleanups();
  await assert.rejects(startCluster({ major: majors[0], conf: { shared_buffers: 'lots' } }), (error: unknown) => {
    assert.ok(error instanceof PostgresHarnessError);
    assert.match(error.message, /pg_ctl start of PostgreSQL \d+ in .* exited with code 1/);
    assert.match(error.message, /--- last lines of .*server\.log ---/);
    assert.match(error.message, /shared_buffers/);
    return true;
  });
  assert.deepEqual(pendingExitCleanups(), pendingBefore, 'the failed cluster left no directory or pending cleanup behind');
});

describe('a cluster started in a before hook without keepAfterTest', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ major: majors[0] });
  });
  test('is cleaned up when the hook ends, and using it says why', async () => {
    assert.equal(existsSync(cluster.dataDir), false);
    await assert.rejects(cluster.query('select 1'), /already cleaned up \(started in a before\/beforeEach hook\?.*keepAfterTest: true/);
  });
});

test('makeTempDir gives a private directory to its owner and removeTempDir drops its exit cleanup', () => {
  const owner = resolveClusterUser();
  const directory = makeTempDir({ prefix: 'walnut-harness-check-', owner: owner.name });
  const stats = statSync(directory);
  assert.equal(stats.mode & 0o777, 0o700);
  assert.equal(stats.uid, owner.uid);
  assert.ok(pendingExitCleanups().includes(`remove ${directory}`));
  removeTempDir(directory);
  assert.equal(existsSync(directory), false);
  assert.equal(pendingExitCleanups().includes(`remove ${directory}`), false);
});

test('the exit cleanup registry runs newest first, survives a throwing step, and empties itself', () => {
  const order: string[] = [];
  const originalWrite = process.stderr.write;
  const stderrLines: string[] = [];
  registerExitCleanup('first registered', () => order.push('first'));
  registerExitCleanup('throws', () => {
    throw new Error('boom');
  });
  const unregister = registerExitCleanup('unregistered', () => order.push('unregistered'));
  registerExitCleanup('last registered', () => order.push('last'));
  unregister();
  process.stderr.write = ((chunk: string) => {
    stderrLines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    runExitCleanups();
  } finally {
    process.stderr.write = originalWrite;
  }
  assert.deepEqual(order, ['last', 'first']);
  assert.match(stderrLines.join(''), /test cleanup "throws" failed: boom/);
  assert.deepEqual(pendingExitCleanups(), []);
});

test('running the exit cleanups stops a live cluster and removes its directories', async () => {
  const cluster = await startCluster({ major: majors[0], keepAfterTest: true });
  const pid = cluster.postmasterPid();
  assert.ok(pid !== undefined);
  assert.ok(pendingExitCleanups().some((cleanup) => cleanup === `stop PostgreSQL ${majors[0]} in ${cluster.dataDir}`));
  runExitCleanups(); // what process 'exit' does; top-level tests run one at a time, so no other cluster is live
  await assertGone(cluster, pid);
  await cluster.cleanup(); // still safe afterwards
});

// Each scenario runs in a child process that starts a cluster, prints {rootDir, dataDir, pid} and then dies in its own way.
interface ChildOutcome {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly cluster: { rootDir: string; dataDir: string; pid: number };
  readonly output: string;
}

function runChildScenario(script: string, args: readonly string[], killWith?: NodeJS.Signals): Promise<ChildOutcome> {
  const directory = makeTempDir({ prefix: 'walnut-harness-child-', mode: 0o755 });
  const scriptPath = join(directory, 'scenario.test.ts');
  writeFileSync(scriptPath, script);
  return new Promise((resolve, reject) => {
    // Without NODE_TEST_CONTEXT, which marks us as a test runner's child: the scenario must run its own tests.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [...args, scriptPath], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    let cluster: ChildOutcome['cluster'] | undefined;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /CLUSTER (\{.*\})/.exec(output);
      if (match && cluster === undefined) {
        cluster = JSON.parse(match[1]);
        if (killWith !== undefined) child.kill(killWith);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      removeTempDir(directory);
      if (cluster === undefined) reject(new Error(`the scenario never reported its cluster:\n${output}`));
      else resolve({ exitCode, signal, cluster, output });
    });
  });
}

const scenarioPrelude = `
import { test } from 'node:test';
import { startCluster } from ${JSON.stringify(postgresHelperUrl)};
async function startAndReport(keepAfterTest) {
  const cluster = await startCluster({ major: ${majors[0]}, keepAfterTest });
  console.log('CLUSTER ' + JSON.stringify({ rootDir: cluster.rootDir, dataDir: cluster.dataDir, pid: cluster.postmasterPid() }));
  return cluster;
}
`;

describe('clusters of a test process that fails or dies are cleaned up', { concurrency: 2 }, () => {
  test('a test body that throws still has its cluster stopped and removed by the after hook', async () => {
    const outcome = await runChildScenario(
      `${scenarioPrelude}
  import { existsSync } from 'node:fs';
  let dataDir;
  test('throws after starting a cluster', async () => {
    dataDir = (await startAndReport(false)).dataDir;
    throw new Error('the test failed on purpose');
  });
  test('the next test already finds the cluster gone', () => {
    console.log(existsSync(dataDir) ? 'NEXT TEST SAW THE DATA DIR' : 'NEXT TEST SAW NO DATA DIR');
  });`,
      ['--test', '--test-reporter=tap'],
    );
    assert.equal(outcome.exitCode, 1, outcome.output);
    assert.match(outcome.output, /the test failed on purpose/);
    assert.match(outcome.output, /NEXT TEST SAW NO DATA DIR/, 'the after hook, not the exit hook, removed it');
    await assertGone(outcome.cluster, outcome.cluster.pid);
  });

  test('process.exit in the middle of a test still stops and removes the cluster through the exit hook', async () => {
    const outcome = await runChildScenario(`${scenarioPrelude}\nawait startAndReport(true);\nprocess.exit(3);\n`, []);
    assert.equal(outcome.exitCode, 3, outcome.output);
    await assertGone(outcome.cluster, outcome.cluster.pid);
  });

  test('SIGTERM to a test process stops and removes its cluster, and the process still dies of SIGTERM', async () => {
    const outcome = await runChildScenario(`${scenarioPrelude}\nawait startAndReport(true);\nsetInterval(() => {}, 1000);\n`, [], 'SIGTERM');
    assert.equal(outcome.signal, 'SIGTERM', outcome.output);
    await assertGone(outcome.cluster, outcome.cluster.pid);
  });

  test('a cluster whose test process was SIGKILLed is swept by the next run', async () => {
    const outcome = await runChildScenario(`${scenarioPrelude}\nawait startAndReport(true);\nsetInterval(() => {}, 1000);\n`, [], 'SIGKILL');
    assert.equal(outcome.signal, 'SIGKILL');
    assert.ok(isProcessAlive(outcome.cluster.pid), 'nothing could clean up after SIGKILL, so the server still runs');
    assert.ok(existsSync(outcome.cluster.dataDir));
    assert.ok(sweepAbandonedClusters().includes(outcome.cluster.rootDir));
    await assertGone(outcome.cluster, outcome.cluster.pid);
  });
});
