// Pins how settings resolve (flag > env > file > default), the config-file warnings, WAL-G's typed readers and
// their errors, the storage alias rules, the environment export and the DEVEL dump.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WalgError } from '../../src/errors.ts';
import {
  type LoadSettingsOptions,
  type Settings,
  develEnvironmentDump,
  exportToEnvironment,
  loadSettings,
  missingStorageError,
  noStorageConfiguredError,
  parseUserDataJson,
  readSettingsFile,
  storageSettingBool,
  storageSettingInt,
  storageSettingInt64,
  storageSettingRequiredInt,
} from '../../src/config/settings.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

const UNKNOWN_CLOSING =
  "We found that some variables in your config file detected as 'Unknown'. \n  If this is not right, please create issue https://github.com/wal-g/wal-g/issues/new";

interface Loaded {
  settings: Settings;
  warnings: string[];
}

/** Loads settings from an empty home directory (so no real ~/.walg.* leaks in), capturing warnings. */
function load(t: { after: (fn: () => void) => void }, options: Partial<LoadSettingsOptions> = {}): Loaded {
  const home = options.homeDir ?? makeTempDir();
  if (options.homeDir === undefined) t.after(() => removeTempDir(home));
  const warnings: string[] = [];
  const settings = loadSettings({
    flagValues: options.flagValues ?? new Map(),
    env: options.env ?? {},
    configPath: options.configPath,
    homeDir: home,
    warn: (message) => warnings.push(message),
  });
  return { settings, warnings };
}

function configFile(t: { after: (fn: () => void) => void }, name: string, text: string): string {
  const directory = makeTempDir();
  t.after(() => removeTempDir(directory));
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

function throwsWalgError(action: () => unknown, message: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof WalgError, `expected a WalgError, got ${String(error)}`);
    assert.equal(error.message, message);
    assert.equal(error.exitCode, 1);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Precedence

test('an explicitly given hidden flag beats env, env beats the file, the file beats the default', (t) => {
  const path = configFile(t, 'walg.json', JSON.stringify({ WALG_COMPRESSION_METHOD: 'zstd', WALG_UPLOAD_CONCURRENCY: 3, WALG_DELTA_MAX_STEPS: 2 }));
  const { settings } = load(t, {
    configPath: path,
    env: { WALG_COMPRESSION_METHOD: 'brotli', WALG_UPLOAD_CONCURRENCY: '5' },
    flagValues: new Map([['WALG_COMPRESSION_METHOD', 'lzma']]),
  });
  assert.deepEqual(settings.lookup('WALG_COMPRESSION_METHOD'), { value: 'lzma', source: 'flag' });
  assert.deepEqual(settings.lookup('WALG_UPLOAD_CONCURRENCY'), { value: '5', source: 'env' });
  assert.deepEqual(settings.lookup('WALG_DELTA_MAX_STEPS'), { value: '2', source: 'file' });
  assert.deepEqual(settings.lookup('WALG_DOWNLOAD_CONCURRENCY'), { value: '10', source: 'default' });
  assert.equal(settings.lookup('WALG_S3_PREFIX'), undefined);
});

test('an empty environment variable counts as unset, so the file or default shows through', (t) => {
  const path = configFile(t, 'walg.yaml', 'PGHOST: /var/run/postgresql\n');
  const { settings } = load(t, { configPath: path, env: { PGHOST: '', WALG_COMPRESSION_METHOD: '', WALG_S3_PREFIX: '' } });
  assert.equal(settings.get('PGHOST'), '/var/run/postgresql');
  assert.equal(settings.get('WALG_COMPRESSION_METHOD'), 'lz4');
  assert.equal(settings.isSet('WALG_S3_PREFIX'), false);
  assert.equal(settings.storagePrefix(), undefined);
});

test('an explicitly empty flag is still set and hides the environment value', (t) => {
  const { settings } = load(t, { env: { PGHOST: 'db' }, flagValues: new Map([['PGHOST', '']]) });
  assert.deepEqual(settings.lookup('PGHOST'), { value: '', source: 'flag' });
  assert.equal(settings.get('PGHOST'), undefined, 'get() treats empty as unset');
});

test('the environment is consulted for any name, allowed or not', (t) => {
  const { settings } = load(t, { env: { WALG_TARGET_STORAGE: 'backup2', SOMETHING_ELSE: 'x' } });
  assert.equal(settings.get('WALG_TARGET_STORAGE'), 'backup2');
  assert.equal(settings.get('SOMETHING_ELSE'), 'x');
  assert.equal(settings.get('something_else'), 'x', 'names are looked up upper-cased');
});

test('config file keys match settings case-insensitively', (t) => {
  const path = configFile(t, 'walg.json', '{"walg_s3_prefix": "s3://lower", "Pghost": "mixed"}');
  const { settings, warnings } = load(t, { configPath: path });
  assert.equal(settings.get('WALG_S3_PREFIX'), 's3://lower');
  assert.equal(settings.get('PGHOST'), 'mixed');
  assert.deepEqual(warnings, [], 'lower-case spellings of allowed names are not unknown');
});

test('trailing line breaks are trimmed by get() but kept by lookup()', (t) => {
  const { settings } = load(t, { env: { WALG_S3_PREFIX: 's3://bucket\r\n', PGHOST: '\n' } });
  assert.equal(settings.get('WALG_S3_PREFIX'), 's3://bucket');
  assert.equal(settings.lookup('WALG_S3_PREFIX')?.value, 's3://bucket\r\n');
  assert.equal(settings.get('PGHOST'), undefined);
});

// ---------------------------------------------------------------------------------------------------------
// Config files

test('every supported config form configures settings through --config', (t) => {
  const forms: [string, string][] = [
    ['walg.json', '{"WALG_FILE_PREFIX": "/backups", "WALG_DOWNLOAD_CONCURRENCY": 4}'],
    ['walg.yaml', 'WALG_FILE_PREFIX: /backups\nWALG_DOWNLOAD_CONCURRENCY: 4\n'],
    ['walg.yml', 'WALG_FILE_PREFIX: "/backups"\nWALG_DOWNLOAD_CONCURRENCY: 0x4\n'],
    ['walg.toml', 'WALG_FILE_PREFIX = "/backups"\nWALG_DOWNLOAD_CONCURRENCY = 4\n'],
    ['walg.properties', 'WALG_FILE_PREFIX=/backups\nWALG_DOWNLOAD_CONCURRENCY = 4\n'],
    ['walg.env', 'WALG_FILE_PREFIX=/backups\nexport WALG_DOWNLOAD_CONCURRENCY=4\n'],
    ['walg.hcl', 'WALG_FILE_PREFIX = "/backups"\nWALG_DOWNLOAD_CONCURRENCY = 4\n'],
  ];
  for (const [name, text] of forms) {
    const { settings, warnings } = load(t, { configPath: configFile(t, name, text) });
    assert.deepEqual(warnings, [], name);
    assert.equal(settings.get('WALG_FILE_PREFIX'), '/backups', name);
    assert.equal(settings.concurrency('WALG_DOWNLOAD_CONCURRENCY'), 4, name);
    assert.deepEqual(settings.storagePrefix(), { kind: 'file', setting: 'WALG_FILE_PREFIX', value: '/backups' }, name);
  }
});

test('an INI file configures nothing and warns about DEFAULT, as WAL-G does', (t) => {
  const { settings, warnings } = load(t, { configPath: configFile(t, 'walg.ini', 'WALG_FILE_PREFIX = /backups\n') });
  assert.equal(settings.get('WALG_FILE_PREFIX'), undefined);
  assert.deepEqual(warnings, ['DEFAULT is unknown', UNKNOWN_CLOSING]);
});

test('without --config the home directory is searched for .walg.<ext>', (t) => {
  const home = makeTempDir();
  t.after(() => removeTempDir(home));
  writeFileSync(join(home, '.walg.yaml'), 'WALG_FILE_PREFIX: /from-yaml\n');
  let loaded = load(t, { homeDir: home });
  assert.equal(loaded.settings.get('WALG_FILE_PREFIX'), '/from-yaml');
  assert.equal(loaded.settings.configFileUsed, join(home, '.walg.yaml'));
  writeFileSync(join(home, '.walg.json'), '{"WALG_FILE_PREFIX": "/from-json"}');
  loaded = load(t, { homeDir: home });
  assert.equal(loaded.settings.get('WALG_FILE_PREFIX'), '/from-json', '.json comes first in viper order');
  const explicit = configFile(t, 'other.toml', 'WALG_FILE_PREFIX = "/explicit"\n');
  loaded = load(t, { homeDir: home, configPath: explicit });
  assert.equal(loaded.settings.get('WALG_FILE_PREFIX'), '/explicit', '--config replaces the home search');
});

test('no config file anywhere is silent', (t) => {
  const { settings, warnings } = load(t, { env: { WALG_FILE_PREFIX: '/env' } });
  assert.deepEqual(warnings, []);
  assert.equal(settings.configFileUsed, undefined);
  assert.equal(settings.configFileLoaded, false);
});

test('an unreadable, unparsable or unsupported config file warns and the run continues without it', (t) => {
  const directory = makeTempDir();
  t.after(() => removeTempDir(directory));
  const missing = join(directory, 'missing.yaml');
  let loaded = load(t, { configPath: missing, env: { WALG_FILE_PREFIX: '/env' } });
  assert.deepEqual(loaded.warnings, [`Failed to parse config file ${missing}. open ${missing}: no such file or directory.`]);
  assert.equal(loaded.settings.get('WALG_FILE_PREFIX'), '/env');
  assert.equal(loaded.settings.configFileUsed, missing);

  const broken = configFile(t, 'broken.yaml', 'a: b: c\n');
  loaded = load(t, { configPath: broken });
  assert.deepEqual(loaded.warnings, [
    `Failed to parse config file ${broken}. While parsing config: yaml: line 1: mapping values are not allowed in this context.`,
  ]);

  const unsupported = configFile(t, 'walg.conf', 'WALG_FILE_PREFIX=/x\n');
  loaded = load(t, { configPath: unsupported });
  assert.deepEqual(loaded.warnings, [`Failed to parse config file ${unsupported}. Unsupported Config Type "conf".`]);
  assert.equal(loaded.settings.get('WALG_FILE_PREFIX'), undefined);
});

test('a broken file found in the home directory warns too', (t) => {
  const home = makeTempDir();
  t.after(() => removeTempDir(home));
  writeFileSync(join(home, '.walg.json'), '{');
  const { warnings } = load(t, { homeDir: home });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], new RegExp(`^Failed to parse config file ${join(home, '.walg.json')}\\. While parsing config: .+\\.$`));
});

// ---------------------------------------------------------------------------------------------------------
// Unknown keys

test('each unknown config-file key warns, then the closing warning comes once', (t) => {
  const path = configFile(t, 'walg.yaml', [
    'WALG_FILE_PREFIX: /backups',
    'walg_target_storage: second',
    'PGSERVICE: main',
    'NULLED:',
    'WALG_FAILOVER_STORAGES:',
    '  good:',
    '    NOT_A_SETTING: x',
  ].join('\n'));
  const { settings, warnings } = load(t, { configPath: path, env: { ALSO_UNKNOWN_IN_ENV: 'x' } });
  assert.deepEqual(warnings, ['WALG_TARGET_STORAGE is unknown', 'PGSERVICE is unknown', UNKNOWN_CLOSING]);
  assert.equal(settings.get('WALG_TARGET_STORAGE'), 'second', 'unknown keys are still used');
  assert.deepEqual(settings.unknownFileKeys, ['WALG_TARGET_STORAGE', 'PGSERVICE']);
});

test('the closing warning has a trailing space and an indented second line', () => {
  assert.ok(UNKNOWN_CLOSING.includes("'Unknown'. \n  If this"));
});

test('without a warn option, warnings go to stderr as WAL-G WARNING lines', (t) => {
  const path = configFile(t, 'walg.json', '{"MYSTERY": "1"}');
  const home = makeTempDir();
  t.after(() => removeTempDir(home));
  const moduleUrl = pathToFileURL(join(import.meta.dirname, '../../src/config/settings.ts')).href;
  const script =
    `const { loadSettings } = await import(${JSON.stringify(moduleUrl)});` +
    `loadSettings({ flagValues: new Map(), env: {}, configPath: ${JSON.stringify(path)}, homeDir: ${JSON.stringify(home)} });`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout, '');
  const lines = child.stderr.replace(/\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}\.\d{6}/g, '<ts>');
  assert.equal(
    lines,
    'WARNING: <ts> MYSTERY is unknown\n' +
      "WARNING: <ts> We found that some variables in your config file detected as 'Unknown'. \n" +
      '  If this is not right, please create issue https://github.com/wal-g/wal-g/issues/new\n',
  );
});

// ---------------------------------------------------------------------------------------------------------
// Typed readers and their errors

test('lenient booleans and integers read garbage as false and 0', (t) => {
  const { settings } = load(t, { env: { WALG_USE_WAL_DELTA: 'yes', WALG_PREVENT_WAL_OVERWRITE: 'TRUE', WALG_DELTA_MAX_STEPS: 'six', WALG_DISK_RATE_LIMIT: '0x400' } });
  assert.equal(settings.bool('WALG_USE_WAL_DELTA'), false);
  assert.equal(settings.bool('WALG_PREVENT_WAL_OVERWRITE'), true);
  assert.equal(settings.bool('WALG_TAR_DISABLE_FSYNC'), false, 'default false');
  assert.equal(settings.int('WALG_DELTA_MAX_STEPS'), 0);
  assert.equal(settings.int('WALG_DISK_RATE_LIMIT'), 1024);
  assert.equal(settings.int('WALG_TAR_SIZE_THRESHOLD'), 1073741823);
});

test('strict booleans name the setting and the bad value', (t) => {
  const { settings } = load(t, { env: { WALG_FAILOVER_STORAGES_CHECK: 'maybe' } });
  throwsWalgError(
    () => settings.boolStrict('WALG_FAILOVER_STORAGES_CHECK', false),
    'setting "WALG_FAILOVER_STORAGES_CHECK" must be a boolean: strconv.ParseBool: parsing "maybe": invalid syntax',
  );
  assert.equal(settings.boolStrict('HTTP_EXPOSE_PPROF', true), true, 'unset gives the fallback');
});

test('concurrency must be positive', (t) => {
  const { settings } = load(t, { env: { WALG_UPLOAD_CONCURRENCY: '0', WALG_DOWNLOAD_CONCURRENCY: 'lots' } });
  throwsWalgError(() => settings.concurrency('WALG_UPLOAD_CONCURRENCY'), 'WALG_UPLOAD_CONCURRENCY value is expected to be positive but is: 0');
  throwsWalgError(() => settings.concurrency('WALG_DOWNLOAD_CONCURRENCY'), 'WALG_DOWNLOAD_CONCURRENCY value is expected to be positive but is: 0');
  assert.equal(settings.concurrency('WALG_UPLOAD_DISK_CONCURRENCY'), 1);
});

test('durations read Go syntax into milliseconds and report bad values with WAL-G text', (t) => {
  const { settings } = load(t, {
    env: { WALG_ALIVE_CHECK_INTERVAL: '1h30m', WALG_STOP_BACKUP_TIMEOUT: '30', WALG_DAEMON_WAL_UPLOAD_TIMEOUT: 'soon', WALG_FAILOVER_STORAGES_CHECK_TIMEOUT: '2d' },
  });
  assert.equal(settings.durationMs('WALG_ALIVE_CHECK_INTERVAL'), 5_400_000);
  assert.equal(settings.durationMs('WALG_FAILOVER_STORAGES_CACHE_LIFETIME'), 900_000, 'default 15m');
  assert.equal(settings.durationMs('WALG_ENVELOPE_CACHE_EXPIRATION'), 0, 'default bare 0');
  throwsWalgError(
    () => settings.durationMs('WALG_STOP_BACKUP_TIMEOUT'),
    "duration expected for WALG_STOP_BACKUP_TIMEOUT setting but given '30': time: missing unit in duration \"30\"",
  );
  throwsWalgError(
    () => settings.durationMs('WALG_DAEMON_WAL_UPLOAD_TIMEOUT'),
    "duration expected for WALG_DAEMON_WAL_UPLOAD_TIMEOUT setting but given 'soon': time: invalid duration \"soon\"",
  );
  throwsWalgError(
    () => settings.durationMs('WALG_FAILOVER_STORAGES_CHECK_TIMEOUT'),
    "duration expected for WALG_FAILOVER_STORAGES_CHECK_TIMEOUT setting but given '2d': time: unknown unit \"d\" in duration \"2d\"",
  );
});

test('a required duration that is unset is an error', (t) => {
  const { settings } = load(t);
  assert.equal(settings.durationMs('WALG_STOP_BACKUP_TIMEOUT'), undefined);
  throwsWalgError(() => settings.requiredDurationMs('WALG_STOP_BACKUP_TIMEOUT'), "WALG_STOP_BACKUP_TIMEOUT is required to be set, but it isn't");
});

test('sizes, floats and JSON are read with clear errors', (t) => {
  const { settings } = load(t, {
    env: {
      WALG_FAILOVER_STORAGES_CACHE_EMA_ALIVE_LIMIT: '0.95',
      WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT: 'most',
      PROFILE_SAMPLING_RATIO: 'often',
      WALG_SENTINEL_USER_DATA: '{"label": "nightly"}',
      WALG_DELTA_FROM_USER_DATA: '{broken',
    },
  });
  assert.equal(settings.sizeInBytes('WALG_FAILOVER_STORAGES_CHECK_SIZE'), 1024 * 1024, 'default 1mb');
  assert.equal(settings.float('WALG_FAILOVER_STORAGES_CACHE_EMA_ALIVE_LIMIT'), 0.95);
  assert.equal(settings.float('WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MIN'), undefined);
  throwsWalgError(
    () => settings.float('WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT'),
    'setting "WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT" must be a float: strconv.ParseFloat: parsing "most": invalid syntax',
  );
  assert.equal(settings.floatLenient('PROFILE_SAMPLING_RATIO'), 0);
  assert.deepEqual(settings.json('WALG_SENTINEL_USER_DATA'), { label: 'nightly' });
  assert.equal(settings.json('WALG_FETCH_TARGET_USER_DATA'), undefined);
  assert.throws(() => settings.json('WALG_DELTA_FROM_USER_DATA'), (error: unknown) => {
    assert.ok(error instanceof WalgError);
    assert.match(error.message, /^failed to read the user data as a JSON object: Failed to unmarshal \{broken: .+/);
    return true;
  });
  assert.equal(parseUserDataJson(''), undefined, 'empty user data means none');
});

test('errors about secret settings do not show the value', (t) => {
  const { settings } = load(t, { env: { PGPASSWORD: 'hunter2' } });
  assert.throws(() => settings.durationMs('PGPASSWORD'), (error: unknown) => {
    assert.ok(error instanceof WalgError);
    assert.ok(!error.message.includes('hunter2'), error.message);
    assert.match(error.message, /--HIDDEN--/);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------------------
// Storage settings

test('an adapter setting X is read from X, then WALG_X, then WALE_X, then a default of those', (t) => {
  let { settings } = load(t, { env: { S3_SSE: 'AES256', WALG_S3_SSE: 'aws:kms', WALE_S3_SSE: 'other' } });
  assert.equal(settings.storageSetting('S3_SSE'), 'AES256');
  ({ settings } = load(t, { env: { WALG_S3_SSE: 'aws:kms', WALE_S3_SSE: 'other' } }));
  assert.equal(settings.storageSetting('S3_SSE'), 'aws:kms');
  ({ settings } = load(t, { env: { WALE_S3_SSE: 'other' } }));
  assert.equal(settings.storageSetting('S3_SSE'), 'other');
  ({ settings } = load(t));
  assert.equal(settings.storageSetting('S3_SSE'), undefined);
  assert.equal(settings.storageSetting('UPLOAD_CONCURRENCY'), '16', 'falls back to the WALG_UPLOAD_CONCURRENCY default');
  ({ settings } = load(t, { env: { WALG_UPLOAD_CONCURRENCY: '7' } }));
  assert.equal(settings.storageSetting('UPLOAD_CONCURRENCY'), '7');
});

test('the adapter settings map holds exactly the names that resolve', (t) => {
  const { settings } = load(t, { env: { AWS_REGION: 'eu-west-1', WALG_S3_STORAGE_CLASS: 'STANDARD_IA', WALG_AWS_ENDPOINT: 'http://minio:9000' } });
  assert.deepEqual(Object.fromEntries(settings.storageAdapterSettings('s3')), {
    AWS_ENDPOINT: 'http://minio:9000', AWS_REGION: 'eu-west-1', S3_STORAGE_CLASS: 'STANDARD_IA', UPLOAD_CONCURRENCY: '16',
  });
  assert.deepEqual(Object.fromEntries(settings.storageAdapterSettings('file')), {});
});

test('the primary storage is the first adapter in WAL-G order with a WALG_ or WALE_ prefix', (t) => {
  let { settings } = load(t, { env: { WALG_SSH_PREFIX: 'ssh://h/p', WALG_GS_PREFIX: 'gs://b/p', WALE_FILE_PREFIX: '/wale', WALE_S3_PREFIX: 's3://wale' } });
  assert.deepEqual(settings.storagePrefix(), { kind: 's3', setting: 'WALE_S3_PREFIX', value: 's3://wale' });
  ({ settings } = load(t, { env: { WALG_OSS_PREFIX: 'oss://b', WALG_S3_PREFIX: 's3://b' } }));
  assert.equal(settings.storagePrefix()?.kind, 'oss');
  ({ settings } = load(t, { env: { WALE_SWIFT_PREFIX: 'swift://c', WALG_SSH_PREFIX: 'ssh://h' } }));
  assert.deepEqual(settings.storagePrefix(), { kind: 'swift', setting: 'WALE_SWIFT_PREFIX', value: 'swift://c' });
  ({ settings } = load(t, { env: { WALG_S3_PREFIX: 's3://walg', WALE_S3_PREFIX: 's3://wale' } }));
  assert.equal(settings.storagePrefix()?.setting, 'WALG_S3_PREFIX');
  ({ settings } = load(t, { env: { S3_PREFIX: 's3://bare' } }));
  assert.equal(settings.storagePrefix(), undefined, 'a bare S3_PREFIX is not a prefix setting');
});

test('an empty prefix in the config file still selects that storage, as in viper', (t) => {
  const { settings } = load(t, { configPath: configFile(t, 'walg.json', '{"WALG_S3_PREFIX": "", "WALG_FILE_PREFIX": "/x"}') });
  assert.deepEqual(settings.storagePrefix(), { kind: 's3', setting: 'WALG_S3_PREFIX', value: '' });
});

test('failover storages come from the config file, sorted, and inherit bare adapter settings', (t) => {
  const path = configFile(t, 'walg.yaml', [
    'WALG_S3_PREFIX: s3://primary',
    'AWS_ACCESS_KEY_ID: shared-key',
    'WALG_FAILOVER_STORAGES:',
    '  Zeta:',
    '    WALG_FILE_PREFIX: /zeta',
    '  alpha:',
    '    WALE_S3_PREFIX: s3://alpha',
    '    AWS_REGION: us-east-2',
  ].join('\n'));
  const { settings } = load(t, { configPath: path, env: { WALG_AWS_REGION: 'global-alias-ignored' } });
  const failovers = settings.failoverStorages();
  assert.deepEqual([...failovers.keys()], ['alpha', 'zeta']);
  assert.deepEqual(Object.fromEntries(failovers.get('alpha')!), { WALE_S3_PREFIX: 's3://alpha', AWS_REGION: 'us-east-2' });
  const alpha = settings.failoverStorageScope('alpha')!;
  assert.deepEqual(alpha.storagePrefix(), { kind: 's3', setting: 'WALE_S3_PREFIX', value: 's3://alpha' });
  assert.equal(alpha.storageSetting('AWS_ACCESS_KEY_ID'), 'shared-key', 'inherited from the top level');
  assert.equal(alpha.storageSetting('UPLOAD_CONCURRENCY'), '16', 'built-in default of WALG_UPLOAD_CONCURRENCY');
  assert.deepEqual(settings.failoverStorageScope('zeta')!.storagePrefix(), { kind: 'file', setting: 'WALG_FILE_PREFIX', value: '/zeta' });
  assert.equal(settings.failoverStorageScope('missing'), undefined);
  assert.deepEqual(settings.storagePrefix(), { kind: 's3', setting: 'WALG_S3_PREFIX', value: 's3://primary' });
});

test('failover storages given in the environment are refused with a clear error', (t) => {
  const { settings } = load(t, { env: { WALG_FAILOVER_STORAGES: '{"a": {"WALG_FILE_PREFIX": "/a"}}' } });
  throwsWalgError(() => settings.failoverStorages(), 'WALG_FAILOVER_STORAGES can only be set in a config file (it is a map of storage name to settings)');
  const empty = load(t).settings;
  assert.equal(empty.failoverStorages().size, 0);
});

test('statsd extra tags come from a nested file map or a JSON object in the environment', (t) => {
  const fromFile = load(t, { configPath: configFile(t, 'walg.toml', '[WALG_STATSD_EXTRA_TAGS]\nEnv = "prod"\nshard = 3\n') }).settings;
  assert.deepEqual(Object.fromEntries(fromFile.statsdExtraTags()), { env: 'prod', shard: '3' });
  const fromEnv = load(t, { env: { WALG_STATSD_EXTRA_TAGS: '{"Env": "prod", "n": 1}' } }).settings;
  assert.deepEqual(Object.fromEntries(fromEnv.statsdExtraTags()), { Env: 'prod' });
  const garbage = load(t, { env: { WALG_STATSD_EXTRA_TAGS: 'env=prod' } }).settings;
  assert.equal(garbage.statsdExtraTags().size, 0);
});

test('adapter readers are strict and name the setting', () => {
  const settings = new Map([['S3_SKIP_VALIDATION', 'nope'], ['S3_MAX_RETRIES', '0x10'], ['AZURE_BUFFER_SIZE', '1e6'], ['GCS_MAX_RETRIES', '4']]);
  throwsWalgError(() => storageSettingBool(settings, 'S3_SKIP_VALIDATION', true), 'setting "S3_SKIP_VALIDATION" must be a boolean: strconv.ParseBool: parsing "nope": invalid syntax');
  throwsWalgError(() => storageSettingInt(settings, 'S3_MAX_RETRIES', 15), 'setting "S3_MAX_RETRIES" must be an integer: strconv.Atoi: parsing "0x10": invalid syntax');
  throwsWalgError(() => storageSettingInt64(settings, 'AZURE_BUFFER_SIZE', 1), 'setting "AZURE_BUFFER_SIZE" must be a 64-bit integer: strconv.ParseInt: parsing "1e6": invalid syntax');
  throwsWalgError(() => storageSettingRequiredInt(settings, 'UPLOAD_CONCURRENCY'), 'setting "UPLOAD_CONCURRENCY" is required');
  assert.equal(storageSettingInt(settings, 'GCS_MAX_RETRIES', 16), 4);
  assert.equal(storageSettingBool(settings, 'GCS_NORMALIZE_PREFIX', true), true);
});

test('the no-storage errors carry WAL-G texts', () => {
  assert.equal(missingStorageError().message, 'Failed to find any configured storage');
  assert.equal(missingStorageError().exitCode, 1);
  assert.equal(
    noStorageConfiguredError().message,
    'No storage is configured now, please set one of following settings: [WALG_OSS_PREFIX WALG_S3_PREFIX WALG_FILE_PREFIX WALG_GS_PREFIX WALG_AZ_PREFIX WALG_SWIFT_PREFIX WALG_SSH_PREFIX]',
  );
});

// ---------------------------------------------------------------------------------------------------------
// Export and DEVEL dump

test('exporting writes every resolved value, defaults and unknown file keys included, but not nested maps', (t) => {
  const path = configFile(t, 'walg.yaml', [
    'PGHOST: /var/run/postgresql',
    'PGSERVICE: analytics',
    'WALG_FAILOVER_STORAGES:',
    '  other:',
    '    WALG_FILE_PREFIX: /other',
    'WALG_STATSD_EXTRA_TAGS:',
    '  env: prod',
  ].join('\n'));
  const env: NodeJS.ProcessEnv = { WALG_FILE_PREFIX: '/env', UNRELATED: 'kept' };
  const { settings } = load(t, { configPath: path, env, flagValues: new Map([['WALG_DELTA_MAX_STEPS', '3']]) });
  exportToEnvironment(settings, env);
  assert.equal(env.PGHOST, '/var/run/postgresql');
  assert.equal(env.PGSERVICE, 'analytics', 'file keys WAL-G does not know are exported too');
  assert.equal(env.PGAPPNAME, 'wal-g');
  assert.equal(env.WALG_COMPRESSION_METHOD, 'lz4');
  assert.equal(env.WALG_DELTA_MAX_STEPS, '3');
  assert.equal(env.WALG_FILE_PREFIX, '/env');
  assert.equal(env.UNRELATED, 'kept');
  assert.equal('WALG_FAILOVER_STORAGES' in env, false);
  assert.equal('WALG_STATSD_EXTRA_TAGS' in env, false);
  assert.equal('WALG_S3_PREFIX' in env, false, 'unset settings are not created');
});

test('an explicitly empty flag clears the inherited environment variable on export', (t) => {
  const env: NodeJS.ProcessEnv = { PGHOST: 'db' };
  const { settings } = load(t, { env, flagValues: new Map([['PGHOST', '']]) });
  exportToEnvironment(settings, env);
  assert.equal(env.PGHOST, '');
});

test('the DEVEL dump lists known variables sorted, with secrets hidden unless empty', (t) => {
  const env: NodeJS.ProcessEnv = {
    WALG_FILE_PREFIX: '/backups', PGPASSWORD: 'hunter2', AWS_SECRET_ACCESS_KEY: '', WALG_LIBSODIUM_KEY: 'k'.repeat(32),
    NOT_A_SETTING: 'hidden from the dump',
  };
  const { settings } = load(t, { env, configPath: configFile(t, 'walg.json', '{"EXTRA_FILE_KEY": "v"}') });
  exportToEnvironment(settings, env);
  const lines = develEnvironmentDump(settings, env);
  assert.equal(lines[0], '--- COMPILED ENVIRONMENT VARS ---');
  const body = lines.slice(1);
  assert.deepEqual(body, [...body].sort());
  assert.ok(body.includes('\tPGPASSWORD=--HIDDEN--'));
  assert.ok(body.includes('\tWALG_LIBSODIUM_KEY=--HIDDEN--'));
  assert.ok(body.includes('\tAWS_SECRET_ACCESS_KEY='), 'an empty secret is shown empty');
  assert.ok(body.includes('\tWALG_FILE_PREFIX=/backups'));
  assert.ok(body.includes('\tWALG_COMPRESSION_METHOD=lz4'));
  assert.ok(body.includes('\tEXTRA_FILE_KEY=v'));
  assert.ok(!body.some((line) => line.includes('NOT_A_SETTING')));
  assert.ok(!lines.join('\n').includes('hunter2'));
});

// ---------------------------------------------------------------------------------------------------------
// Other config files (copy --from/--to)

test('a settings file read on its own uses the file and defaults but not the environment', (t) => {
  const path = configFile(t, 'target.json', '{"WALG_S3_PREFIX": "s3://target", "MYSTERY": 1}');
  const warnings: string[] = [];
  const main = load(t, { env: { AWS_REGION: 'from-main' } }).settings;
  const settings = readSettingsFile(path, { global: main, env: { WALG_S3_PREFIX: 's3://env-ignored' }, warn: (message) => warnings.push(message) });
  assert.deepEqual(settings.storagePrefix(), { kind: 's3', setting: 'WALG_S3_PREFIX', value: 's3://target' });
  assert.equal(settings.get('WALG_COMPRESSION_METHOD'), 'lz4');
  assert.equal(settings.storageSetting('AWS_REGION'), 'from-main', 'bare adapter settings fall back to the main settings');
  assert.deepEqual(warnings, ['MYSTERY is unknown', UNKNOWN_CLOSING]);
  const broken: string[] = [];
  readSettingsFile(join(path, 'nope.json'), { warn: (message) => broken.push(message) });
  assert.equal(broken.length, 1);
  assert.match(broken[0], /^Failed to parse config file .*nope\.json\. open .*: not a directory\.$/);
});
