// Pins the settings table to WAL-G v3.0.8: the allowed list, defaults, secrets, adapters and flag names.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALLOWED_SETTING_NAMES,
  SECRET_SETTING_NAMES,
  SETTINGS,
  SETTING_DEFAULTS,
  STORAGE_ADAPTERS,
  findSetting,
  findSettingByFlagName,
  isAllowedSetting,
  settingFlagName,
} from '../../src/config/settings-table.ts';

test('the allowed list has exactly the 198 names of WAL-G v3.0.8 PG', () => {
  assert.equal(ALLOWED_SETTING_NAMES.length, 198);
  assert.equal(new Set(ALLOWED_SETTING_NAMES).size, 198);
});

test('a sample of allowed names from every group is in the allowed list', () => {
  for (const name of [
    'WALG_DOWNLOAD_CONCURRENCY', 'WALG_DIRECT_IO', 'WALG_GPG_KEY_ID', 'WALE_GPG_KEY_ID', 'PGAPPNAME', 'PGDATA',
    'WALG_FAILOVER_STORAGES', 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MIN', 'WALE_S3_PREFIX', 'WALG_FILE_PREFIX',
    'UPLOAD_CONCURRENCY', 'S3_DELETE_BATCH_SIZE', 'AWS_SECRET_KEY', 'WALG_S3_MAX_RETRIES', 'AZURE_TRY_TIMEOUT',
    'WALG_AZURE_MAX_BUFFERS', 'GCS_MAX_RETRIES', 'OSS_COPY_PART_SIZE', 'OS_REGION_NAME', 'SSH_PRIVATE_KEY_PATH',
    'GOMAXPROCS', 'GODEBUG', 'HTTP_EXPOSE_EXPVAR', 'PROFILE_SAMPLING_RATIO', 'YC_SERVICE_ACCOUNT_KEY_FILE',
  ]) {
    assert.ok(isAllowedSetting(name), `${name} should be allowed`);
  }
});

test('names WAL-G reads but does not allow are known and not allowed', () => {
  for (const name of ['WALG_TARGET_STORAGE', 'NOTIFY_SOCKET', 'GPG_KEY_ID', 'WALE_FILE_PREFIX', 'WALE_GS_PREFIX', 'AWS_WEB_IDENTITY_TOKEN_FILE']) {
    assert.equal(findSetting(name)?.allowed, false, name);
    assert.equal(isAllowedSetting(name), false, name);
  }
  // Names WAL-G's other databases allow are not PG names.
  for (const name of ['MONGODB_URI', 'WALG_MYSQL_DATASOURCE_NAME', 'WALG_STREAM_SPLITTER_PARTITIONS', 'USER']) {
    assert.equal(isAllowedSetting(name), false, name);
    assert.equal(findSetting(name), undefined, name);
  }
});

test('every table name is unique and upper case', () => {
  const names = SETTINGS.map((row) => row.name);
  assert.equal(new Set(names).size, names.length);
  for (const name of names) assert.match(name, /^[A-Z][A-Z0-9_]*$/);
});

test('defaults are exactly WAL-G PG defaults (common plus PG-specific, 38 of them)', () => {
  const defaults = Object.fromEntries(SETTING_DEFAULTS);
  assert.deepEqual(defaults, {
    WALG_DOWNLOAD_CONCURRENCY: '10', WALG_UPLOAD_CONCURRENCY: '16', WALG_UPLOAD_DISK_CONCURRENCY: '1',
    WALG_UPLOAD_QUEUE: '2', WALG_DOWNLOAD_FILE_RETRIES: '15', WALG_PREVENT_WAL_OVERWRITE: 'false',
    WALG_UPLOAD_WAL_METADATA: 'NOMETADATA', WALG_DELTA_MAX_STEPS: '0', WALG_COMPRESSION_METHOD: 'lz4',
    WALG_USE_WAL_DELTA: 'false', WALG_TAR_SIZE_THRESHOLD: '1073741823', WALG_TAR_DISABLE_FSYNC: 'false',
    TOTAL_BG_UPLOADED_LIMIT: '32', WALG_USE_REVERSE_UNPACK: 'false', WALG_SKIP_REDUNDANT_TARS: 'false',
    WALG_VERIFY_PAGE_CHECKSUMS: 'false', WALG_STORE_ALL_CORRUPT_BLOCKS: 'false', WALG_USE_RATING_COMPOSER: 'false',
    WALG_USE_COPY_COMPOSER: 'false', WALG_USE_DATABASE_COMPOSER: 'false', WALG_WITHOUT_FILES_METADATA: 'false',
    WALG_INTEGRITY_MAX_DELAYED_WALS: '0', WALG_SERIALIZER_TYPE: 'json_default', WALG_LIBSODIUM_KEY_TRANSFORM: 'none',
    WALG_FAILOVER_STORAGES_CHECK_TIMEOUT: '30s', WALG_FAILOVER_STORAGES_CACHE_LIFETIME: '15m',
    WALG_ENVELOPE_CACHE_EXPIRATION: '0', WALG_DIRECT_IO: 'false', WALG_LOG_LEVEL: 'NORMAL', WALG_PG_WAL_SIZE: '16',
    WALG_PG_WAL_PAGE_SIZE: '8192', WALG_PG_BLOCK_SIZE: '8192', PGBACKREST_STANZA: 'main',
    WALG_ALIVE_CHECK_INTERVAL: '1m', WALG_FAILOVER_STORAGES_CHECK_SIZE: '1mb', WALG_DAEMON_WAL_UPLOAD_TIMEOUT: '60s',
    WALG_FORCE_WAL_DELTA: 'false', PGAPPNAME: 'wal-g',
  });
});

test('secrets include every name WAL-G hides plus the extra credentials we hide', () => {
  const walgSecrets = [
    'WALE_GPG_KEY_ID', 'WALG_GPG_KEY_ID', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
    'AZURE_STORAGE_ACCESS_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'GOOGLE_APPLICATION_CREDENTIALS', 'OSS_ACCESS_KEY_ID',
    'OSS_ACCESS_KEY_SECRET', 'OSS_SESSION_TOKEN', 'WALG_LIBSODIUM_KEY', 'PGPASSWORD', 'WALG_PGP_KEY_PASSPHRASE',
    'WALG_PGP_KEY', 'WALG_ENVELOPE_PGP_KEY', 'SSH_PASSWORD', 'OS_PASSWORD',
  ];
  for (const name of walgSecrets) assert.ok(SECRET_SETTING_NAMES.has(name), name);
  for (const name of ['AWS_SECRET_KEY', 'S3_SSE_C', 'WALG_S3_SSE_C', 'GCS_ENCRYPTION_KEY']) assert.ok(SECRET_SETTING_NAMES.has(name), name);
  assert.equal(SECRET_SETTING_NAMES.size, walgSecrets.length + 4);
  assert.equal(SECRET_SETTING_NAMES.has('WALG_S3_PREFIX'), false);
});

test('storage adapters come in WAL-G order and every adapter setting is an allowed row', () => {
  assert.deepEqual(STORAGE_ADAPTERS.map((adapter) => adapter.kind), ['oss', 's3', 'file', 'gs', 'az', 'swift', 'ssh']);
  assert.equal(STORAGE_ADAPTERS.find((adapter) => adapter.kind === 's3')!.settingNames.length, 35);
  for (const adapter of STORAGE_ADAPTERS) {
    for (const name of adapter.settingNames) assert.equal(findSetting(name)?.allowed, true, name);
  }
});

test('the hidden flag of a setting is its name lower-cased with dashes', () => {
  assert.equal(settingFlagName('WALG_S3_PREFIX'), 'walg-s3-prefix');
  assert.equal(settingFlagName('PGHOST'), 'pghost');
  assert.equal(findSettingByFlagName('walg-failover-storages-check-size')?.name, 'WALG_FAILOVER_STORAGES_CHECK_SIZE');
  assert.equal(findSettingByFlagName('walg-target-storage'), undefined, 'not allowed: no flag');
});

test('findSetting accepts any case and rows carry a type, a group and a doc line', () => {
  const row = findSetting('walg_failover_storages_check_size');
  assert.equal(row?.type, 'size');
  assert.equal(findSetting('WALG_ALIVE_CHECK_INTERVAL')?.type, 'duration');
  assert.equal(findSetting('WALG_STATSD_EXTRA_TAGS')?.type, 'map');
  for (const setting of SETTINGS) {
    assert.ok(setting.doc.length > 5 && !setting.doc.includes('\n'), `${setting.name} needs a one-line doc`);
    assert.ok(setting.group.length > 0);
  }
});
