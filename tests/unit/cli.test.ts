// The command surface end to end (in-process): help, usage errors, version, the storage check, the order of
// WAL-G's startup steps and the not-implemented exit, with WAL-G v3.0.8's exact texts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/run.ts';
import { makeTempDir } from '../helpers/tmp.ts';

interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Log lines written after logging was configured (the run logs to its own WALG_LOG_DESTINATION file). */
  readonly log: string;
  /** The environment after the run: settings are exported into it. */
  readonly env: NodeJS.ProcessEnv;
}

const home = makeTempDir({ prefix: 'walnut-cli-home-' });
let runNumber = 0;

function capture(chunks: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
}

/** `wal-g <args>` with only `env` as environment and an empty home directory (no ~/.walg.json). */
async function walg(args: readonly string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  const logPath = join(home, `log-${++runNumber}.txt`);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const processEnv: NodeJS.ProcessEnv = { WALG_LOG_DESTINATION: logPath, ...env };
  const code = await runCli(args, { stdout: capture(stdout), stderr: capture(stderr), env: processEnv, homeDir: home });
  const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
  return { code, stdout: stdout.join(''), stderr: stderr.join(''), log, env: processEnv };
}

/** Messages of the log lines of one level, after checking the `LEVEL: 2024/01/31 12:34:56.123456 ` prefix. */
function logMessages(log: string, level: 'INFO' | 'ERROR' | 'DEBUG'): string[] {
  const prefix = new RegExp(`^${level}: \\d{4}/\\d{2}/\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{6} `);
  return log
    .split('\n')
    .filter((line) => prefix.test(line))
    .map((line) => line.replace(prefix, ''));
}

/** Command names under "Available Commands:". */
function listedCommands(help: string): string[] {
  const section = help.split('Available Commands:\n')[1];
  if (section === undefined) return [];
  return section
    .split('\n\n')[0]
    .split('\n')
    .map((line) => line.split(' ')[0]);
}

const STORAGE = { WALG_FILE_PREFIX: '/nonexistent/walnut-cli-test' };

const GLOBAL_FLAGS = `Global Flags:
      --config string   config file (default is $HOME/.walg.json)
      --turbo           Ignore all kinds of throttling defined in config

To get the complete list of all global flags, run: 'wal-g flags'
`;

const WAL_PUSH_USAGE = `Usage:
wal-g wal-push wal_filepath [flags]

Flags:
  -h, --help                    help for wal-push
      --target-storage string   Name of the storage to execute the command only for. Use "default" to select the primary one.

${GLOBAL_FLAGS}`;

const ROOT_HELP = `PostgreSQL backup tool

Usage:
wal-g [command]

Available Commands:
backup-fetch    Fetches a backup from storage
backup-list     Prints full list of backups from which recovery is available
backup-mark     Marks a backup permanent or impermanent
backup-push     Makes backup and uploads it to storage
catchup-fetch   Fetches an incremental backup from storage
catchup-list    Prints available incremental backups
catchup-push    Creates incremental backup from lsn
catchup-receive Receive an incremental backup from another instance
catchup-send    Sends incremental backup to standby
completion      Output shell completion code for the specified shell
copy            copy specific or all backups
daemon          Runs WAL-G in daemon mode which executes commands sent from the lightweight walg-daemon-client.
delete          Clears old backups and WALs
flags           Display the list of available global flags for all wal-g commands
help            Help about any command
pgbackrest      Interact with pgbackrest backups (beta)
st              (DANGEROUS) Storage tools
wal-fetch       Fetches a WAL file from storage
wal-push        Uploads a WAL file to storage
wal-receive     Receive WAL stream with postgres Streaming Replication Protocol and push to storage
wal-restore     Restores WAL segments from storage.
wal-show        Show storage WAL segments info grouped by timelines.
wal-verify      Verify WAL storage folder. Available checks: integrity, timeline.

Flags:
      --config string   config file (default is $HOME/.walg.json)
  -h, --help            help for wal-g
      --turbo           Ignore all kinds of throttling defined in config
  -v, --version         version for wal-g

To get the complete list of all global flags, run: 'wal-g flags'

Use "wal-g [command] --help" for more information about a command.
`;

// ---------------------------------------------------------------------------------------------------------
// Help

test('wal-g --help prints the root help on stdout exactly as WAL-G does and exits 0', async () => {
  const outcome = await walg(['--help']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, ROOT_HELP);
  assert.equal(outcome.stderr, '');
});

test('wal-g without arguments prints the root help (the root is a pure group)', async () => {
  const outcome = await walg([]);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, ROOT_HELP);
});

test('root help lists the hidden per-setting flags nowhere, and wal-prefetch is hidden', async () => {
  const outcome = await walg(['-h']);
  assert.doesNotMatch(outcome.stdout, /walg-s3-prefix|pghost/);
  assert.ok(!listedCommands(outcome.stdout).includes('wal-prefetch'));
});

test('each group lists the same sub-commands as WAL-G and exits 0 without a storage', async () => {
  const groups: [string[], string[]][] = [
    [['delete'], ['before', 'everything', 'garbage', 'retain', 'target']],
    [['st'], ['cat', 'check', 'copy', 'get', 'ls', 'put', 'rm', 'transfer']],
    [['st', 'check'], ['read', 'write']],
    [['st', 'transfer'], ['backups', 'files', 'pg-wals']],
    [['pgbackrest'], ['backup-fetch', 'backup-list', 'wal-fetch', 'wal-show']],
  ];
  for (const [path, children] of groups) {
    const outcome = await walg(path);
    assert.equal(outcome.code, 0, path.join(' '));
    assert.deepEqual(listedCommands(outcome.stdout), children, path.join(' '));
    assert.match(outcome.stdout, new RegExp(`Use "wal-g ${path.join(' ')} \\[command\\] --help"`));
    assert.equal(outcome.log, '', 'a group prints help before config and logging are initialised');
  }
});

test('the delete group help matches WAL-G byte for byte, with its empty sub-command descriptions', async () => {
  const outcome = await walg(['delete', '--help']);
  assert.equal(
    outcome.stdout,
    `Clears old backups and WALs

Usage:
wal-g delete [command]

Available Commands:
before      
everything  
garbage     
retain      
target      

Flags:
      --confirm             Confirms backup deletion
  -h, --help                help for delete
      --use-sentinel-time   Use backup creation time from sentinel for backups ordering.

${GLOBAL_FLAGS}
Use "wal-g delete [command] --help" for more information about a command.
`,
  );
});

test('a sub-command help shows its use line, its flags, the inherited flags and the wal-g flags hint', async () => {
  const outcome = await walg(['wal-push', '--help']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, `Uploads a WAL file to storage\n\n${WAL_PUSH_USAGE}`);
});

test('help of st ls shows the inherited st flags with their defaults', async () => {
  const outcome = await walg(['st', 'ls', '-h']);
  assert.match(outcome.stdout, /^Prints objects in the provided storage folder\n\nUsage:\nwal-g st ls \[relative folder path\] \[flags\]\n/);
  assert.match(outcome.stdout, /\n {2}-t, --target string {3}execute for specific failover storage \(Postgres only\) \(default "default"\)\n/);
  assert.match(outcome.stdout, /\n {2}-r, --recursive {6}List folder recursively\n/);
});

test('multi-line flag usage is indented to the usage column, as pflag does', async () => {
  const outcome = await walg(['backup-fetch', '--help']);
  assert.match(
    outcome.stdout,
    /\n {6}--mask string {15}Fetches only files which path relative to destination_directory\n {34}matches given shell file pattern\.\n {34}For information/,
  );
  assert.match(outcome.stdout, /\n {6}--restore-only strings {6}\[Experimental\]/);
});

test('st transfer help prints non-zero defaults the way Go prints them', async () => {
  const outcome = await walg(['st', 'transfer', 'backups', '--help']);
  assert.match(outcome.stdout, /--max-backups uint +max number of backups to move in this run\. Is ignored if backup_name is specified \(default 9223372036854775807\)\n/);
  assert.match(outcome.stdout, /--appearance-checks-interval duration +minimum time interval .* \(default 1s\)\n/);
  assert.match(outcome.stdout, /-c, --concurrency int +number of concurrent workers .* \(default 10\)\n/);
  assert.match(outcome.stdout, /wal-g st transfer backups \[backup_name\] --source='source_storage' \[--target='target_storage'\] \[flags\]/);
});

test('st copy shows a backquoted word of a flag usage as its value placeholder', async () => {
  const outcome = await walg(['st', 'copy', '--help']);
  assert.match(outcome.stdout, /\n {2}-p, --prefix from {6}Prefix-filter path in from storage\.\n/);
});

test('wal-g help <command> prints the same help as <command> --help, without needing a storage', async () => {
  const viaHelp = await walg(['help', 'delete', 'retain']);
  const viaFlag = await walg(['delete', 'retain', '--help']);
  assert.equal(viaHelp.code, 0);
  assert.equal(viaHelp.stdout, viaFlag.stdout);
  assert.match(viaHelp.stdout, /^Usage:\nwal-g delete retain \[FULL\|FIND_FULL\] backup_count \[flags\]\n\nExamples:\n {2}retain 5 /);
});

test('wal-g help with an unknown topic prints cobra\'s message and the root usage on stderr, exit 0', async () => {
  const outcome = await walg(['help', 'nosuch']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, '');
  assert.ok(outcome.stderr.startsWith('Unknown help topic [`nosuch`]\nUsage:\nwal-g [command]\n'));
  // cobra never executed the root here, so its usage lacks the -h line.
  assert.doesNotMatch(outcome.stderr, /help for wal-g/);
  assert.match(outcome.stderr, /\n {2}-v, --version {9}version for wal-g\n/);
});

test('--help before the sub-command name shows the root help (cobra does not know --help while locating)', async () => {
  const outcome = await walg(['--help', 'backup-list']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, ROOT_HELP);
});

// ---------------------------------------------------------------------------------------------------------
// flags, version, completion

test('wal-g flags prints every global flag, the hidden per-setting ones included, on stderr', async () => {
  const outcome = await walg(['flags']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, '');
  const lines = outcome.stderr.split('\n');
  assert.equal(lines[0], 'Global Flags:');
  assert.equal(outcome.stderr.endsWith('\n'), true);
  const flagLines = lines.slice(1, -1);
  // 198 allowed settings of the PG binary, plus --config and --turbo.
  assert.equal(flagLines.length, 200);
  assert.ok(flagLines.every((line) => line.startsWith('      --')));
  assert.ok(flagLines.some((line) => line.startsWith('      --walg-s3-prefix string ')));
  assert.ok(flagLines.some((line) => line.startsWith('      --pghost string ')));
  assert.ok(flagLines.some((line) => line.startsWith('      --walg-direct-io string')));
  assert.ok(flagLines.some((line) => /^ {6}--turbo {2,}Ignore all kinds of throttling defined in config$/.test(line)));
  assert.equal(outcome.log, '', 'no storage is needed and nothing is logged');
});

test('wal-g flags --help writes the help to stdout ending in <nil> and the flag list to stderr, as WAL-G does', async () => {
  const outcome = await walg(['flags', '--help']);
  assert.equal(outcome.code, 0);
  assert.equal(
    outcome.stdout,
    'Display the list of available global flags for all wal-g commands\n\nUsage:\nwal-g flags\n\nFlags:\n  -h, --help   help for flags\n\n<nil>',
  );
  assert.ok(outcome.stderr.startsWith('Global Flags:\n'));
});

test('--version and -v print the version line on stdout', async () => {
  for (const flag of ['--version', '-v']) {
    const outcome = await walg([flag]);
    assert.equal(outcome.code, 0);
    assert.equal(outcome.stdout, 'wal-g version devel\tdevel\tdevel\tPostgreSQL\n');
  }
});

test('--version is a root-only flag: on a sub-command it is unknown', async () => {
  const outcome = await walg(['backup-list', '--version'], STORAGE);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'unknown flag: --version\n');
});

test('completion bash prints a script that asks wal-g __complete, without a storage', async () => {
  const outcome = await walg(['completion', 'bash']);
  assert.equal(outcome.code, 0);
  assert.match(outcome.stdout, /__complete/);
  assert.match(outcome.stdout, /complete -o default -F _wal_g_complete wal-g/);
});

test('completion with an unsupported shell is cobra\'s invalid-argument error', async () => {
  const outcome = await walg(['completion', 'fish']);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'invalid argument "fish" for "wal-g completion"\n');
  assert.ok(outcome.stderr.startsWith('Error: invalid argument "fish" for "wal-g completion"\nUsage:\nwal-g completion bash|zsh [flags]\n'));
});

test('__completeNoDesc prints candidates without descriptions and the directive last', async () => {
  const outcome = await walg(['__completeNoDesc', 'st', 'check', '']);
  assert.equal(outcome.code, 0);
  assert.equal(outcome.stdout, 'read\nwrite\n:4\n');
  assert.equal(outcome.stderr, 'Completion ended with directive: ShellCompDirectiveNoFileComp\n');
});

// ---------------------------------------------------------------------------------------------------------
// Usage errors

test('a wrong argument count prints Error + usage on stderr, the message on stdout, exit 1', async () => {
  const outcome = await walg(['wal-push'], STORAGE);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'accepts 1 arg(s), received 0\n');
  assert.equal(outcome.stderr, `Error: accepts 1 arg(s), received 0\n${WAL_PUSH_USAGE}\n`);
});

test('argument count rules use cobra\'s messages', async () => {
  const cases: [string[], string][] = [
    [['backup-fetch', 'a', 'b', 'c'], 'accepts between 1 and 2 arg(s), received 3'],
    [['backup-push', 'a', 'b'], 'accepts at most 1 arg(s), received 2'],
    [['backup-list', 'extra'], 'unknown command "extra" for "wal-g backup-list"'],
    [['wal-receive', 'extra'], 'accepts 0 arg(s), received 1'],
    [['st', 'transfer', 'pg-wals', 'x', '--source', 'a'], 'unknown command "x" for "wal-g st transfer pg-wals"'],
  ];
  for (const [args, message] of cases) {
    const outcome = await walg(args, STORAGE);
    assert.equal(outcome.code, 1, args.join(' '));
    assert.equal(outcome.stdout, `${message}\n`, args.join(' '));
    assert.ok(outcome.stderr.startsWith(`Error: ${message}\nUsage:\n`), args.join(' '));
  }
});

test('an unknown command suggests close names and points to --help', async () => {
  const outcome = await walg(['wal-pus']);
  assert.equal(outcome.code, 1);
  const message = 'unknown command "wal-pus" for "wal-g"\n\nDid you mean this?\n\twal-push\n';
  assert.equal(outcome.stdout, `${message}\n`);
  assert.equal(outcome.stderr, `Error: ${message}\nRun 'wal-g --help' for usage.\n`);
});

test('an unknown command with no close name has no suggestion block', async () => {
  const outcome = await walg(['frobnicate']);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'unknown command "frobnicate" for "wal-g"\n');
});

test('an unknown word after a group shows the group help instead (cobra only checks the root)', async () => {
  const outcome = await walg(['delete', 'nosuch']);
  assert.equal(outcome.code, 0);
  assert.deepEqual(listedCommands(outcome.stdout), ['before', 'everything', 'garbage', 'retain', 'target']);
});

test('unknown long and short flags are pflag errors with usage', async () => {
  const long = await walg(['backup-list', '--bogus'], STORAGE);
  assert.equal(long.code, 1);
  assert.equal(long.stdout, 'unknown flag: --bogus\n');
  assert.ok(long.stderr.startsWith('Error: unknown flag: --bogus\nUsage:\nwal-g backup-list [flags]\n'));
  const short = await walg(['backup-list', '-x'], STORAGE);
  assert.equal(short.stdout, "unknown shorthand flag: 'x' in -x\n");
});

test('a flag error comes before --help, as pflag stops at the first error', async () => {
  const outcome = await walg(['backup-list', '--help', '--bogus']);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'unknown flag: --bogus\n');
});

test('an unparsable flag value reports Go\'s parse error', async () => {
  const outcome = await walg(['wal-verify', 'integrity', '--timeline', 'x', '--lsn', '0/1'], STORAGE);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'invalid argument "x" for "--timeline" flag: strconv.ParseUint: parsing "x": invalid syntax\n');
});

test('copy reports its missing required flags after its own (storage-less) pre-run', async () => {
  const outcome = await walg(['copy']);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.stdout, 'required flag(s) "from", "to" not set\n');
  assert.equal(outcome.log, '');
});

// ---------------------------------------------------------------------------------------------------------
// WAL-G's own argument validators

test('delete retain with no arguments dies like the Go panic in WAL-G (exit 2)', async () => {
  const outcome = await walg(['delete', 'retain'], STORAGE);
  assert.equal(outcome.code, 2);
  assert.match(outcome.stderr, /^panic: runtime error: index out of range \[0\] with length 0\n/);
});

test('delete retain validates the count with WAL-G\'s messages', async () => {
  const notNumber = await walg(['delete', 'retain', 'FULL', 'x'], STORAGE);
  assert.equal(notNumber.code, 1);
  assert.equal(notNumber.stdout, `expected to get a number as retantion count, but got: 'x': strconv.Atoi: parsing "x": invalid syntax\n`);
  const zero = await walg(['delete', 'retain', '0'], STORAGE);
  assert.equal(zero.stdout, 'cannot retain less than one backup. Check out delete everything\n');
});

test('delete before, everything, target and garbage reject bad arguments with WAL-G\'s messages', async () => {
  const cases: [string[], string][] = [
    [['delete', 'before'], 'accepts between 1 and 2 arg(s), received 0'],
    [['delete', 'before', 'FULL', 'base_000000010000000000000002'], 'unsupported moodifier for delete before command'],
    [['delete', 'before', 'SOME', 'base_000000010000000000000002'], 'expected to get one of modifiers: [FULL FIND_FULL] as first argument'],
    [['delete', 'before', '2999-01-01T00:00:00Z'], 'cannot delete before future date'],
    [['delete', 'everything', 'NOW'], 'expected to get one of modifiers: [FORCE] as first argument'],
    [['delete', 'target'], 'incorrect arguments'],
    [['delete', 'target', 'LATEST', 'base_1'], 'incorrect arguments'],
    [['delete', 'target', 'a', 'b', 'c'], 'accepts between 0 and 2 arg(s), received 3'],
    [['delete', 'garbage', 'WALS'], 'expected to get one of modifiers: [ARCHIVES BACKUPS] as first argument'],
  ];
  for (const [args, message] of cases) {
    const outcome = await walg(args, STORAGE);
    assert.equal(outcome.code, 1, args.join(' '));
    assert.equal(outcome.stdout, `${message}\n`, args.join(' '));
  }
});

test('wal-verify needs a known check and --lsn together with --timeline', async () => {
  const cases: [string[], string][] = [
    [['wal-verify'], 'at least one of the following checks should be specified: integrity, timeline'],
    [['wal-verify', 'speed'], 'invalid check specified: speed'],
    [['wal-verify', 'integrity', '--lsn', '0/16B3740'], '"--lsn" flag works only in conjunction with the "--timeline" flag'],
    [['wal-verify', 'timeline', '--timeline', '2'], '"--timeline" flag works only in conjunction with the "--lsn" flag'],
  ];
  for (const [args, message] of cases) {
    const outcome = await walg(args, STORAGE);
    assert.equal(outcome.code, 1, args.join(' '));
    assert.equal(outcome.stdout, `${message}\n`, args.join(' '));
  }
});

test('delete target accepts a lone --target-user-data', async () => {
  const outcome = await walg(['delete', 'target', '--target-user-data', '{"x":1}'], STORAGE);
  // Accepted by the argument rule: the command itself ran (and failed later), with no usage error.
  const errors = logMessages(outcome.log, 'ERROR');
  assert.equal(errors.length, 1);
  assert.doesNotMatch(errors[0], /incorrect arguments|insufficient arguments/);
  assert.doesNotMatch(outcome.stderr, /^Error: /m);
});

// ---------------------------------------------------------------------------------------------------------
// Storage check, handler dispatch, logging

test('a storage command without any configured storage fails with WAL-G\'s message, exit 1', async () => {
  const outcome = await walg(['wal-push', '/tmp/000000010000000000000001']);
  assert.equal(outcome.code, 1);
  assert.deepEqual(logMessages(outcome.log, 'ERROR'), ['Failed to find any configured storage']);
  assert.equal(outcome.stdout, '');
  assert.equal(outcome.stderr, '');
});

test('an unwritten command exits 1 with one ERROR line naming it', async () => {
  const outcome = await walg(['pgbackrest', 'backup-list'], STORAGE);
  assert.equal(outcome.code, 1);
  assert.equal(outcome.log.split('\n').filter(Boolean).length, 1);
  assert.deepEqual(logMessages(outcome.log, 'ERROR'), ['pgbackrest backup-list: not implemented yet']);
});

test('catchup-send and catchup-receive skip the storage check (NoStorage)', async () => {
  // With no storage configured they get past the pre-run to their own first step (and its error).
  const receive = await walg(['catchup-receive', '/pgdata', 'notaport']);
  assert.deepEqual(logMessages(receive.log, 'ERROR'), ['strconv.Atoi: parsing "notaport": invalid syntax']);
  const send = await walg(['catchup-send', '/pgdata', 'host:5432'], { PGHOST: '127.0.0.1', PGPORT: '1' });
  const errors = logMessages(send.log, 'ERROR');
  assert.equal(send.code, 1);
  assert.ok(errors.length > 0);
  assert.ok(errors.every((line) => !/storage/i.test(line)), errors.join('\n'));
  assert.match(errors[errors.length - 1], /postgres connection failed/);
});

test('copy and st copy replace the root pre-run, so they need no storage in the main config', async () => {
  const copy = await walg(['copy', '--from', 'a.json', '-t', 'b.json']);
  assert.equal(copy.code, 1);
  assert.ok(logMessages(copy.log, 'ERROR').includes('Failed configure folder according to config a.json'));
  assert.ok(!logMessages(copy.log, 'ERROR').includes('Failed to find any configured storage'));
  const stCopy = await walg(['st', 'copy', '--from', 'a.json', '--to', 'b.json']);
  assert.ok(!logMessages(stCopy.log, 'ERROR').includes('Failed to find any configured storage'));
});

test('st transfer validates its flags in its own pre-run', async () => {
  const noSource = await walg(['st', 'transfer', 'files', 'basebackups_005/']);
  assert.equal(noSource.code, 1);
  assert.deepEqual(logMessages(noSource.log, 'ERROR'), ['invalid flags: source storage must be specified']);
  const same = await walg(['st', 'transfer', 'pg-wals', '--source', 'default']);
  assert.deepEqual(logMessages(same.log, 'ERROR'), ['invalid flags: source and target storages must be different']);
  const ok = await walg(['st', 'transfer', 'pg-wals', '-s', 'failover1']);
  assert.ok(logMessages(ok.log, 'ERROR').every((message) => !message.startsWith('invalid flags')));
});

test('a hidden per-setting flag after the positional arguments configures the storage and is exported', async () => {
  const outcome = await walg(['wal-push', '/tmp/000000010000000000000001', '--walg-file-prefix=/tmp/walnut-flag-prefix']);
  assert.ok(!logMessages(outcome.log, 'ERROR').includes('Failed to find any configured storage'));
  assert.equal(outcome.env.WALG_FILE_PREFIX, '/tmp/walnut-flag-prefix');
});

test('--config names the config file that supplies the storage', async () => {
  const directory = makeTempDir({ prefix: 'walnut-cli-config-' });
  const config = join(directory, 'walg.json');
  writeFileSync(config, JSON.stringify({ WALG_FILE_PREFIX: '/tmp/walnut-config-prefix' }));
  const outcome = await walg(['--config', config, 'backup-list']);
  assert.ok(!logMessages(outcome.log, 'ERROR').includes('Failed to find any configured storage'));
  assert.equal(outcome.env.WALG_FILE_PREFIX, '/tmp/walnut-config-prefix');
});

test('an invalid WALG_LOG_LEVEL fails logging setup with WAL-G\'s two lines on stderr and exit 1', () => {
  // Logging is not configured yet, so the lines go to the process's stderr: run the real entry point.
  const result = spawnSync(process.execPath, [join(import.meta.dirname, '../../src/main.ts'), 'wal-push', 'x'], {
    env: { ...STORAGE, WALG_LOG_LEVEL: 'LOUD', HOME: home },
    encoding: 'utf8',
  });
  assert.equal(result.status, 1);
  assert.deepEqual(logMessages(result.stderr, 'ERROR'), [
    'Failed to configure logging.',
    "failed to setup logging: got incorrect log level: 'NORMAL', expected one of: '[NORMAL DEVEL ERROR]'",
  ]);
  assert.equal(result.stdout, '');
});

test('DEVEL level dumps the compiled environment with secrets hidden before running the command', async () => {
  const outcome = await walg(['wal-push', 'x'], {
    ...STORAGE,
    WALG_LOG_LEVEL: 'DEVEL',
    AWS_SECRET_ACCESS_KEY: 'do-not-print-me',
  });
  assert.doesNotMatch(outcome.log, /do-not-print-me/);
  const debug = outcome.log.split(/(?=^[A-Z]+: )/m).find((record) => record.startsWith('DEBUG: '));
  assert.ok(debug !== undefined);
  assert.match(debug, /--- COMPILED ENVIRONMENT VARS ---\n/);
  assert.match(debug, /\n\tAWS_SECRET_ACCESS_KEY=--HIDDEN--\n/);
  assert.match(debug, /\n\tWALG_FILE_PREFIX=\/nonexistent\/walnut-cli-test\n/);
});

test('help, flags and completion run the config init but never the storage check', async () => {
  for (const args of [['help'], ['flags'], ['completion', 'zsh']]) {
    const outcome = await walg(args);
    assert.equal(outcome.code, 0, args.join(' '));
    assert.equal(logMessages(outcome.log, 'ERROR').length, 0, args.join(' '));
  }
});
