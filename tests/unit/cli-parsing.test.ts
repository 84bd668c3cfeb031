// Locating the command and parsing its flags with cobra/pflag semantics: positions, spellings, defaults, Go value
// syntax and pflag's error texts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, runPersistentPreRun, type CommandLine } from '../../src/cli/run.ts';
import type { CommandContext } from '../../src/cli/context.ts';
import { loadSettings } from '../../src/config/settings.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { readCsvRecord } from '../../src/cli/flag-parser.ts';
import { parseRfc3339 } from '../../src/cli/args.ts';

type Parsed = Extract<CommandLine, { kind: 'parsed' }>;

function parsed(argv: string[]): Parsed {
  const result = parseCommandLine(argv);
  assert.equal(result.kind, 'parsed', `${argv.join(' ')}: ${result.kind === 'parsed' ? '' : result.message}`);
  return result as Parsed;
}

function flagError(argv: string[]): string {
  const result = parseCommandLine(argv);
  assert.equal(result.kind, 'bad-flags', argv.join(' '));
  return (result as Extract<CommandLine, { kind: 'bad-flags' }>).message;
}

test('flags may come before, between and after the positional arguments', () => {
  const result = parsed(['--turbo', 'delete', '--confirm', 'retain', 'FULL', '--use-sentinel-time', '5', '--after', 'base_1']);
  assert.deepEqual(result.node.path, ['delete', 'retain']);
  assert.deepEqual(result.parsed.positionals, ['FULL', '5']);
  assert.equal(result.flags.turbo, true);
  assert.equal(result.flags.confirm, true);
  assert.equal(result.flags['use-sentinel-time'], true);
  assert.equal(result.flags.after, 'base_1');
});

test('a string flag before the command name takes its value without hiding the command', () => {
  const result = parsed(['--config', '/etc/wal-g.json', 'backup-list', '--json']);
  assert.deepEqual(result.node.path, ['backup-list']);
  assert.equal(result.flags.config, '/etc/wal-g.json');
  assert.equal(result.flags.json, true);
});

test('long flags accept --name=value and --name value, short flags -x value, -xvalue and -x=value', () => {
  assert.equal(parsed(['wal-push', 'x', '--target-storage=failover']).flags['target-storage'], 'failover');
  assert.equal(parsed(['wal-push', '--target-storage', 'failover', 'x']).flags['target-storage'], 'failover');
  assert.equal(parsed(['st', 'ls', '-t', 'failover']).flags.target, 'failover');
  assert.equal(parsed(['st', 'ls', '-tfailover']).flags.target, 'failover');
  assert.equal(parsed(['st', 'ls', '-t=failover']).flags.target, 'failover');
});

test('boolean shorthands combine, and a value-taking shorthand may end the group', () => {
  const push = parsed(['backup-push', '-pfv', '/pgdata']);
  assert.equal(push.flags.permanent, true);
  assert.equal(push.flags.full, true);
  assert.equal(push.flags.verify, true);
  assert.equal(push.flags['store-all-corrupt'], false);
  const list = parsed(['st', 'ls', '-grt', 'failover', 'folder']);
  assert.equal(list.flags.glob, true);
  assert.equal(list.flags.recursive, true);
  assert.equal(list.flags.target, 'failover');
  assert.deepEqual(list.parsed.positionals, ['folder']);
});

test('a boolean flag takes a value only after =, so --full false leaves "false" as an argument', () => {
  assert.equal(parsed(['backup-push', '--full=false']).flags.full, false);
  const spaced = parsed(['backup-push', '--full', 'false']);
  assert.equal(spaced.flags.full, true);
  assert.deepEqual(spaced.parsed.positionals, ['false']);
  assert.equal(parsed(['backup-push', '-f=0']).flags.full, false);
});

test('-- ends the flags: everything after it is positional', () => {
  const result = parsed(['wal-push', '--', '--target-storage']);
  assert.deepEqual(result.parsed.positionals, ['--target-storage']);
  assert.equal(result.flags['target-storage'], '');
  assert.equal(parsed(['wal-push', '-', 'x']).parsed.positionals[0], '-');
});

test('flags not given hold WAL-G\'s defaults', () => {
  const list = parsed(['st', 'ls']);
  assert.equal(list.flags.target, 'default');
  assert.equal(list.flags.glob, false);
  assert.equal(list.flags.recursive, false);
  assert.equal(list.flags.config, '');
  const transfer = parsed(['st', 'transfer', 'backups']);
  assert.equal(transfer.flags.concurrency, 10);
  assert.equal(transfer.flags['appearance-checks'], 3);
  assert.equal(transfer.flags['appearance-checks-interval'], 1_000_000_000);
  assert.equal(transfer.flags['max-files'], 2 ** 63);
  assert.equal(transfer.flags.source, '');
  assert.deepEqual(parsed(['backup-fetch', '/restore']).flags['restore-only'], []);
  assert.equal(parsed(['catchup-push', '/pgdata']).flags['from-lsn'], 0n);
});

test('the help and version flags are not handler flags, and per-setting flags become settings, not flags', () => {
  const result = parsed(['wal-push', 'x', '--pghost', 'db1', '--walg-s3-prefix=s3://bucket']);
  assert.equal('pghost' in result.flags, false);
  assert.equal('help' in result.flags, false);
  assert.ok(result.parsed.changed.has('pghost'));
  assert.equal(result.parsed.values.get('walg-s3-prefix'), 's3://bucket');
});

test('numbers use Go\'s syntax: base prefixes, underscores, 64-bit LSNs as bigint', () => {
  assert.equal(parsed(['catchup-push', 'x', '--from-lsn', '18446744073709551615']).flags['from-lsn'], 18446744073709551615n);
  assert.equal(parsed(['catchup-push', 'x', '--from-lsn', '0x16B3740']).flags['from-lsn'], 0x16b3740n);
  assert.equal(parsed(['catchup-push', 'x', '--from-lsn', '1_000']).flags['from-lsn'], 1000n);
  assert.equal(parsed(['st', 'transfer', 'files', 'p', '-c', '0o17']).flags.concurrency, 15);
  assert.equal(parsed(['st', 'transfer', 'files', 'p', '-c', '-3']).flags.concurrency, -3);
  assert.equal(parsed(['wal-verify', '--timeline', '010']).flags.timeline, 8);
});

test('bad numbers, booleans and durations are reported with Go\'s error texts', () => {
  assert.equal(
    flagError(['wal-verify', '--timeline', '4294967296']),
    'invalid argument "4294967296" for "--timeline" flag: strconv.ParseUint: parsing "4294967296": value out of range',
  );
  assert.equal(
    flagError(['catchup-push', '--from-lsn', '-1']),
    'invalid argument "-1" for "--from-lsn" flag: strconv.ParseUint: parsing "-1": invalid syntax',
  );
  assert.equal(
    flagError(['st', 'transfer', 'files', '-c', '1x']),
    'invalid argument "1x" for "-c, --concurrency" flag: strconv.ParseInt: parsing "1x": invalid syntax',
  );
  assert.equal(
    flagError(['backup-list', '--turbo=maybe']),
    'invalid argument "maybe" for "--turbo" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
  );
  assert.equal(
    flagError(['st', 'transfer', 'files', '--appearance-checks-interval', '5']),
    'invalid argument "5" for "--appearance-checks-interval" flag: time: missing unit in duration "5"',
  );
  assert.equal(parsed(['st', 'transfer', 'files', '--appearance-checks-interval', '1m30s']).flags['appearance-checks-interval'], 90e9);
});

test('pflag\'s syntax errors: missing values, unknown flags, bad dashes', () => {
  assert.equal(flagError(['wal-push', 'x', '--target-storage']), 'flag needs an argument: --target-storage');
  assert.equal(flagError(['st', 'ls', '-t']), "flag needs an argument: 't' in -t");
  assert.equal(flagError(['backup-push', '-pz']), "unknown shorthand flag: 'z' in -z");
  assert.equal(flagError(['backup-list', '--no-json']), 'unknown flag: --no-json');
  assert.equal(flagError(['backup-list', '---json']), 'bad flag syntax: ---json');
  assert.equal(flagError(['backup-list', '--=x']), 'bad flag syntax: --=x');
});

test('a negative number is a shorthand flag to pflag, not a value', () => {
  assert.equal(flagError(['delete', 'retain', '-5']), "unknown shorthand flag: '5' in -5");
});

test('repeated string-slice flags append, and values are read as CSV', () => {
  const result = parsed(['backup-fetch', '/r', 'LATEST', '--restore-only', 'db1,db2/public.t', '--restore-only', '"a,b"']);
  assert.deepEqual(result.flags['restore-only'], ['db1', 'db2/public.t', 'a,b']);
  assert.deepEqual(readCsvRecord('x,"y ""quoted""",'), ['x', 'y "quoted"', '']);
  assert.throws(() => readCsvRecord('a"b'), /bare " in non-quoted-field/);
});

test('the last value of a repeated scalar flag wins', () => {
  assert.equal(parsed(['wal-push', 'x', '--target-storage', 'a', '--target-storage', 'b']).flags['target-storage'], 'b');
});

test('unknown commands are found only at the root; sub-command words are not flag values', () => {
  const unknown = parseCommandLine(['backup-lsit']);
  assert.equal(unknown.kind, 'unknown-command');
  assert.match((unknown as { message: string }).message, /Did you mean this\?\n\tbackup-list\n$/);
  assert.deepEqual(parsed(['st', 'check', 'read', 'a', 'b']).node.path, ['st', 'check', 'read']);
});

test('__complete exists only when it is the command being run', () => {
  assert.deepEqual(parsed(['__complete', 'wal-p']).node.path, ['__complete']);
  assert.equal(parsed(['__completeNoDesc', 'x']).calledAs, '__completeNoDesc');
  assert.deepEqual(parsed(['__complete', '--help']).parsed.positionals, ['--help'], 'it parses no flags');
  assert.equal(parseCommandLine(['help', '__complete']).kind, 'parsed');
});

test('RFC 3339 times are read the way Go\'s time.Parse does', () => {
  assert.equal(parseRfc3339('2024-01-31T12:00:00Z')?.toISOString(), '2024-01-31T12:00:00.000Z');
  assert.equal(parseRfc3339('2024-01-31T12:00:00.5+02:00')?.toISOString(), '2024-01-31T10:00:00.500Z');
  assert.equal(parseRfc3339('2024-02-30T12:00:00Z'), undefined);
  assert.equal(parseRfc3339('2024-01-31 12:00:00Z'), undefined);
  assert.equal(parseRfc3339('base_000000010000000000000002'), undefined);
});

function contextFor(argv: string[], env: NodeJS.ProcessEnv): { result: Parsed; context: CommandContext } {
  const result = parsed(argv);
  const settings = loadSettings({ flagValues: new Map(), env, homeDir: makeTempDir({ prefix: 'walnut-cli-prerun-' }) });
  const context: CommandContext = {
    path: result.node.path,
    calledAs: result.calledAs,
    args: result.parsed.positionals,
    flags: result.flags,
    changedFlags: result.parsed.changed,
    settings,
    env,
    stdout: process.stdout,
    stderr: process.stderr,
    usage: () => '',
  };
  return { result, context };
}

test('the root pre-run fills an empty --target-storage from WALG_TARGET_STORAGE, but not a given one', () => {
  const env = { WALG_FILE_PREFIX: '/nonexistent/walnut', WALG_TARGET_STORAGE: 'failover1' };
  const empty = contextFor(['wal-push', 'x'], { ...env });
  assert.equal(runPersistentPreRun(empty.result.node, empty.context), undefined);
  assert.equal(empty.context.flags['target-storage'], 'failover1');
  const given = contextFor(['wal-push', 'x', '--target-storage', 'default'], { ...env });
  assert.equal(runPersistentPreRun(given.result.node, given.context), undefined);
  assert.equal(given.context.flags['target-storage'], 'default');
});

test('copy\'s own pre-run replaces the root one, so no storage is required', () => {
  const { result, context } = contextFor(['copy', '--from', 'a', '--to', 'b'], {});
  assert.equal(context.settings.storagePrefix(), undefined);
  assert.equal(runPersistentPreRun(result.node, context), undefined);
});
