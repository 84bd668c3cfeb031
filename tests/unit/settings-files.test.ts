// Pins how each config-file format is read: values as WAL-G sees them, nesting, case, and the parse failures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE_TYPES, ConfigFileError, findHomeConfigFile, goFileExtension, readConfigFile } from '../../src/config/config-file.ts';
import type { ConfigMap, ConfigValue } from '../../src/config/config-values.ts';
import { parseYaml } from '../../src/config/yaml-subset.ts';
import { parseToml } from '../../src/config/toml-subset.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

function plain(value: ConfigValue | ConfigMap): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, inner]) => [key, plain(inner)]));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

function writeConfig(t: { after: (fn: () => void) => void }, name: string, text: string): string {
  const directory = makeTempDir();
  t.after(() => removeTempDir(directory));
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

test('a JSON file gives lower-cased keys, Go-printed numbers and booleans, and nested maps', (t) => {
  const path = writeConfig(t, 'walg.json', JSON.stringify({
    WALG_S3_PREFIX: 's3://bucket/prefix', WALG_DOWNLOAD_CONCURRENCY: 32, AWS_S3_FORCE_PATH_STYLE: true, RATIO: 0.5,
    BIG: 1e21, EMPTY: null, LIST: [1, 'a'],
    WALG_FAILOVER_STORAGES: { Good_Failover: { WALE_S3_PREFIX: 's3://other-bucket' } },
  }));
  assert.deepEqual(plain(readConfigFile(path, {})), {
    walg_s3_prefix: 's3://bucket/prefix', walg_download_concurrency: '32', aws_s3_force_path_style: 'true',
    ratio: '0.5', big: '1000000000000000000000', empty: null, list: ['1', 'a'],
    walg_failover_storages: { good_failover: { wale_s3_prefix: 's3://other-bucket' } },
  });
});

test('YAML scalars resolve like yaml.v2: yes/on are true, leading-0 is octal, 1e3 is a float, quotes keep text', (t) => {
  const path = writeConfig(t, 'walg.yaml', [
    '# a comment',
    'WALG_DOWNLOAD_CONCURRENCY: 1',
    'AWS_S3_FORCE_PATH_STYLE: yes',
    'WALG_USE_WAL_DELTA: off',
    'MODE: 0755',
    'HEX: 0x1F',
    'FLOAT: 1e3',
    'QUOTED: "0755"',
    "SINGLE: 'it''s # not a comment'",
    'URL: s3://bucket/path # a trailing comment',
    'NOTHING:',
    'TILDE: ~',
    'ESCAPES: "tab\\there\\u0021"',
    'FORCED: !!str 0755',
  ].join('\n'));
  assert.deepEqual(plain(readConfigFile(path, {})), {
    walg_download_concurrency: '1', aws_s3_force_path_style: 'true', walg_use_wal_delta: 'false', mode: '493',
    hex: '31', float: '1000', quoted: '0755', single: "it's # not a comment", url: 's3://bucket/path',
    nothing: null, tilde: null, escapes: 'tab\there!', forced: '0755',
  });
});

test('YAML nested maps, flow maps, block scalars, lists, anchors and merges are read', () => {
  const parsed = parseYaml([
    '---',
    'WALG_FAILOVER_STORAGES:',
    '  first:',
    '    WALG_FILE_PREFIX: /backups/one',
    '  second: {WALG_FILE_PREFIX: /backups/two, SSH_PORT: 2222}',
    'WALG_STATSD_EXTRA_TAGS: {env: prod, "dc": "eu-1"}',
    'WALG_PGP_KEY: |',
    '  -----BEGIN PGP PUBLIC KEY BLOCK-----',
    '',
    '  abc',
    '  -----END PGP PUBLIC KEY BLOCK-----',
    'FOLDED: >-',
    '  one',
    '  two',
    'HEADERS:',
    '- X-One: a',
    '- X-Two: b',
    'CONTINUED: first',
    '  second',
    'base: &shared',
    '  AWS_REGION: eu',
    'copy:',
    '  <<: *shared',
    '  AWS_ENDPOINT: http://minio',
  ].join('\n'));
  assert.deepEqual(plain(parsed), {
    WALG_FAILOVER_STORAGES: { first: { WALG_FILE_PREFIX: '/backups/one' }, second: { WALG_FILE_PREFIX: '/backups/two', SSH_PORT: '2222' } },
    WALG_STATSD_EXTRA_TAGS: { env: 'prod', dc: 'eu-1' },
    WALG_PGP_KEY: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n',
    FOLDED: 'one two',
    HEADERS: [{ 'X-One': 'a' }, { 'X-Two': 'b' }],
    CONTINUED: 'first second',
    base: { AWS_REGION: 'eu' },
    copy: { AWS_REGION: 'eu', AWS_ENDPOINT: 'http://minio' },
  });
});

test('YAML keeps top-level key text but resolves nested keys, as viper does', () => {
  assert.deepEqual(plain(parseYaml('N: 1\nouter:\n  N: 2\n  10: x\n')), { N: '1', outer: { false: '2', '10': 'x' } });
});

test('YAML that is not a mapping, or is malformed, is a parse error', () => {
  assert.throws(() => parseYaml('- a\n- b\n'), /cannot unmarshal !!seq into map\[string\]interface \{\}/);
  assert.throws(() => parseYaml('just text\n'), /cannot unmarshal !!str/);
  assert.throws(() => parseYaml('a: b: c\n'), { message: 'yaml: line 1: mapping values are not allowed in this context' });
  assert.throws(() => parseYaml('a: "open\n'), /found unexpected end of stream/);
  assert.throws(() => parseYaml('a:\n\tb: c\n'), /line 2: found character that cannot start any token/);
  assert.deepEqual(plain(parseYaml('# only a comment\n')), {});
});

test('a TOML file gives flat keys, [tables] as nested maps, and Go-printed numbers', (t) => {
  const path = writeConfig(t, 'walg.toml', [
    'WALG_S3_PREFIX = "s3://bucket" # comment',
    "WALG_FILE_PREFIX = 'C:\\literal'",
    'WALG_DOWNLOAD_CONCURRENCY = 1_000',
    'RATIO = 1.5e3',
    'CHECK = true',
    'LIST = [1, 2,',
    '  3]',
    'KEY = """',
    'multi \\',
    '   line"""',
    '[WALG_FAILOVER_STORAGES.good]',
    'WALE_S3_PREFIX = "s3://other"',
    'inline = { a = "b" }',
  ].join('\n'));
  assert.deepEqual(plain(readConfigFile(path, {})), {
    walg_s3_prefix: 's3://bucket', walg_file_prefix: 'C:\\literal', walg_download_concurrency: '1000', ratio: '1500',
    check: 'true', list: ['1', '2', '3'], key: 'multi line',
    walg_failover_storages: { good: { wale_s3_prefix: 's3://other', inline: { a: 'b' } } },
  });
});

test('TOML errors name the line and column', () => {
  assert.throws(() => parseToml('A = "x"\nA = "y"\n'), /^ConfigSyntaxError: \(2, 8\): key A is already defined$/);
  assert.throws(() => parseToml('A = unquoted\n'), /\(1, 5\): invalid value "unquoted"/);
});

test('a properties file reads key=value, key: value and key value, with continuations, escapes and ${} expansion', (t) => {
  const path = writeConfig(t, 'walg.properties', [
    '# comment',
    '! also a comment',
    'WALG_S3_PREFIX=s3://bucket/${SUFFIX}',
    'SUFFIX : path',
    'PGHOST localhost',
    'LONG = first \\',
    '       second',
    'ESCAPED = tab\\there \\u0041',
    'FROM_ENV = ${HOME_DIR}/x',
    'WALG_FAILOVER_STORAGES.good.WALG_FILE_PREFIX=/b',
  ].join('\n'));
  assert.deepEqual(plain(readConfigFile(path, { HOME_DIR: '/home/pg' })), {
    walg_s3_prefix: 's3://bucket/path', suffix: 'path', pghost: 'localhost', long: 'first second',
    escaped: 'tab\there A', from_env: '/home/pg/x', walg_failover_storages: { good: { walg_file_prefix: '/b' } },
  });
});

test('a properties file with a circular reference fails to parse', (t) => {
  const path = writeConfig(t, 'walg.props', 'A=${B}\nB=${A}\n');
  assert.throws(() => readConfigFile(path, {}), { message: 'While parsing config: circular reference' });
});

test('a dotenv file reads KEY=value lines like gotenv: export, quotes, comments and $VAR expansion', (t) => {
  const path = writeConfig(t, 'walg.env', [
    '# comment',
    'export WALG_S3_PREFIX=s3://bucket # comment',
    'PGHOST: /var/run/postgresql',
    'DOUBLE="line\\nbreak $PGHOST"',
    "SINGLE='kept $PGHOST'",
    'BRACED=${PGHOST}/sub',
    'FROM_ENV=$OUTSIDE',
    'EMPTY=',
  ].join('\n'));
  assert.deepEqual(plain(readConfigFile(path, { OUTSIDE: 'outer' })), {
    walg_s3_prefix: 's3://bucket', pghost: '/var/run/postgresql', double: 'line\nbreak /var/run/postgresql',
    single: 'kept $PGHOST', braced: '/var/run/postgresql/sub', from_env: 'outer', empty: '',
  });
});

test('a dotenv line that does not match the format fails to parse', (t) => {
  const path = writeConfig(t, 'walg.dotenv', 'GOOD=1\nthis is not a setting\n');
  assert.throws(() => readConfigFile(path, {}), { message: "While parsing config: line `this is not a setting` doesn't match format" });
});

test('an INI file keeps every key under its section, so top-level keys land under DEFAULT as in WAL-G', (t) => {
  const path = writeConfig(t, 'walg.ini', '; comment\nWALG_S3_PREFIX = s3://bucket ; note\n[extra]\nQUOTED = "a;b"\n');
  assert.deepEqual(plain(readConfigFile(path, {})), {
    default: { walg_s3_prefix: 's3://bucket' },
    extra: { quoted: 'a;b' },
  });
});

test('a flat HCL file is read and HCL blocks are refused', (t) => {
  const flat = writeConfig(t, 'walg.hcl', '# c\nWALG_S3_PREFIX = "s3://b"\n/* block\ncomment */\nN = 3\nB = true // c\n');
  assert.deepEqual(plain(readConfigFile(flat, {})), { walg_s3_prefix: 's3://b', n: '3', b: 'true' });
  const block = writeConfig(t, 'walg.hcl', 'storage {\n  a = "b"\n}\n');
  assert.throws(() => readConfigFile(block, {}), /^ConfigFileError: While parsing config: At 1:1: only flat key = value pairs/);
});

test('unsupported extensions, missing files and directories fail with viper texts', (t) => {
  const directory = makeTempDir();
  t.after(() => removeTempDir(directory));
  assert.throws(() => readConfigFile(join(directory, 'walg.xml'), {}), { message: 'Unsupported Config Type "xml"' });
  assert.throws(() => readConfigFile(join(directory, 'walg.JSON'), {}), { message: 'Unsupported Config Type "JSON"' });
  assert.throws(() => readConfigFile(join(directory, 'walg'), {}), { message: 'Unsupported Config Type ""' });
  const missing = join(directory, 'missing.json');
  assert.throws(() => readConfigFile(missing, {}), { name: 'ConfigFileError', message: `open ${missing}: no such file or directory` });
  const folder = join(directory, 'folder.yaml');
  mkdirSync(folder);
  assert.throws(() => readConfigFile(folder, {}), { message: `read ${folder}: is a directory` });
});

test('a JSON parse error does not quote the file, which may hold secrets', (t) => {
  const path = writeConfig(t, 'walg.json', '{"WALG_PGP_KEY": "very-secret-value" oops}');
  assert.throws(
    () => readConfigFile(path, {}),
    (error: unknown) => error instanceof ConfigFileError && error.message.startsWith('While parsing config: ') && !error.message.includes('very-secret'),
  );
  const array = writeConfig(t, 'walg.json', '[1]');
  assert.throws(() => readConfigFile(array, {}), {
    message: 'While parsing config: json: cannot unmarshal array into Go value of type map[string]interface {}',
  });
});

test('home discovery takes the first ~/.walg.<ext> in viper order and skips directories', (t) => {
  const home = makeTempDir();
  t.after(() => removeTempDir(home));
  assert.equal(findHomeConfigFile(home), undefined);
  writeFileSync(join(home, '.walg.yaml'), 'A: 1\n');
  assert.equal(findHomeConfigFile(home), join(home, '.walg.yaml'));
  mkdirSync(join(home, '.walg.toml'));
  assert.equal(findHomeConfigFile(home), join(home, '.walg.yaml'), 'a directory is not a config file');
  writeFileSync(join(home, '.walg.json'), '{}');
  assert.equal(findHomeConfigFile(home), join(home, '.walg.json'));
  assert.deepEqual(CONFIG_FILE_TYPES.slice(0, 4), ['json', 'toml', 'yaml', 'yml']);
});

test('file extensions are taken like Go filepath.Ext', () => {
  assert.equal(goFileExtension('/home/pg/.walg'), '.walg');
  assert.equal(goFileExtension('/etc/wal-g.d/config'), '');
  assert.equal(goFileExtension('config.yaml'), '.yaml');
});

test('YAML allows a byte-order mark and tabs inside block scalars', () => {
  assert.deepEqual(plain(parseYaml('\uFEFFKEY: |\n  a\n  \tb\n')), { KEY: 'a\n\tb\n' });
});
