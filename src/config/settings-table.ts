// Every setting WAL-G v3.0.8's PostgreSQL binary reads, one row each: the single source for hidden flags,
// unknown-key warnings, defaults, secret hiding and the settings documentation.

/**
 * How a value is parsed: `int` is a whole number, `duration` Go syntax (`1h30m`), `size` bytes with an optional
 * b/kb/mb/gb suffix, `json` a JSON document, `map` a nested map that only a config file can express.
 */
export type SettingType = 'string' | 'bool' | 'int' | 'duration' | 'size' | 'float' | 'json' | 'map';

export type SettingGroup =
  | 'core'
  | 'backup'
  | 'pg'
  | 'failover'
  | 'storage-prefix'
  | 's3'
  | 'gcs'
  | 'azure'
  | 'oss'
  | 'swift'
  | 'ssh'
  | 'crypto'
  | 'log'
  | 'monitoring'
  | 'runtime';

export interface SettingDefinition {
  readonly name: string;
  readonly type: SettingType;
  /** Built-in default: counts as set, is exported to the environment and shows in the DEVEL dump. */
  readonly default?: string;
  /**
   * What the consuming code assumes when the setting is unset (documentation only): unlike `default` it is not
   * exported and does not make the setting "set", which matters for the storage alias lookup.
   */
  readonly impliedDefault?: string;
  /** Value is replaced by `--HIDDEN--` in the DEVEL dump and must never be logged. */
  readonly secret?: boolean;
  /** In WAL-G's PG allowed list: gets a hidden `--name-lower-dashed` flag and no unknown-key warning. */
  readonly allowed: boolean;
  readonly group: SettingGroup;
  readonly doc: string;
  /**
   * Walnut's own setting, not WAL-G's: never in the allowed list (no hidden flag, not in `wal-g flags`), but read
   * from env and config file without the unknown-key warning.
   */
  readonly walnutOnly?: boolean;
}

export type StorageKind = 'oss' | 's3' | 'file' | 'gs' | 'az' | 'swift' | 'ssh';

export interface StorageAdapterDefinition {
  readonly kind: StorageKind;
  /** Prefix key without WALG_/WALE_: looked up as WALG_<key>, then WALE_<key>. */
  readonly prefixKey: string;
  /** Settings the adapter reads through the alias rule (X, then WALG_X, then WALE_X), in WAL-G's order. */
  readonly settingNames: readonly string[];
}

/** The adapters in WAL-G's fixed order: the first with a prefix set becomes the primary storage. */
export const STORAGE_ADAPTERS: readonly StorageAdapterDefinition[] = [
  {
    kind: 'oss',
    prefixKey: 'OSS_PREFIX',
    settingNames: [
      'OSS_ACCESS_KEY_ID', 'OSS_ACCESS_KEY_SECRET', 'OSS_SESSION_TOKEN', 'OSS_ENDPOINT', 'OSS_REGION', 'OSS_ROLE_ARN',
      'OSS_ROLE_SESSION_NAME', 'OSS_SKIP_VALIDATION', 'OSS_MAX_RETRIES', 'OSS_CONNECT_TIMEOUT', 'OSS_UPLOAD_PART_SIZE',
      'OSS_COPY_PART_SIZE',
    ],
  },
  {
    kind: 's3',
    prefixKey: 'S3_PREFIX',
    settingNames: [
      'S3_ENDPOINT_PORT', 'AWS_ENDPOINT', 'S3_ENDPOINT_SOURCE', 'AWS_REGION', 'AWS_S3_FORCE_PATH_STYLE',
      'AWS_ACCESS_KEY_ID', 'AWS_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY', 'AWS_SECRET_KEY', 'AWS_SESSION_TOKEN',
      'AWS_ROLE_SESSION_NAME', 'AWS_ROLE_ARN', 'AWS_DUAL_STACK', 'S3_SKIP_VALIDATION', 'S3_USE_YC_SESSION_TOKEN',
      'S3_SSE', 'S3_SSE_C', 'S3_SSE_KMS_ID', 'S3_STORAGE_CLASS', 'UPLOAD_CONCURRENCY', 'S3_CA_CERT_FILE',
      'S3_MAX_PART_SIZE', 'S3_USE_LIST_OBJECTS_V1', 'S3_LOG_LEVEL', 'S3_RANGE_BATCH_ENABLED', 'S3_RANGE_MAX_RETRIES',
      'S3_MAX_RETRIES', 'S3_REQUEST_ADDITIONAL_HEADERS', 'S3_MIN_THROTTLING_RETRY_DELAY',
      'S3_MAX_THROTTLING_RETRY_DELAY', 'S3_RETENTION_PERIOD', 'S3_RETENTION_MODE', 'S3_DISABLE_100_CONTINUE',
      'S3_ENABLE_VERSIONING', 'S3_DELETE_BATCH_SIZE',
    ],
  },
  { kind: 'file', prefixKey: 'FILE_PREFIX', settingNames: [] },
  {
    kind: 'gs',
    prefixKey: 'GS_PREFIX',
    settingNames: ['GCS_CONTEXT_TIMEOUT', 'GCS_NORMALIZE_PREFIX', 'GCS_ENCRYPTION_KEY', 'GCS_MAX_CHUNK_SIZE', 'GCS_MAX_RETRIES'],
  },
  {
    kind: 'az',
    prefixKey: 'AZ_PREFIX',
    settingNames: [
      'AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_ACCESS_KEY', 'AZURE_STORAGE_SAS_TOKEN', 'AZURE_ENVIRONMENT_NAME',
      'AZURE_ENDPOINT_SUFFIX', 'AZURE_BUFFER_SIZE', 'AZURE_MAX_BUFFERS', 'AZURE_TRY_TIMEOUT',
    ],
  },
  {
    kind: 'swift',
    prefixKey: 'SWIFT_PREFIX',
    settingNames: ['OS_USERNAME', 'OS_PASSWORD', 'OS_AUTH_URL', 'OS_TENANT_NAME', 'OS_REGION_NAME'],
  },
  { kind: 'ssh', prefixKey: 'SSH_PREFIX', settingNames: ['SSH_PORT', 'SSH_PASSWORD', 'SSH_USERNAME', 'SSH_PRIVATE_KEY_PATH'] },
];

/** The table. `allowed: true` rows are exactly WAL-G's PG allowed list (198 names); the rest are read but warned about. */
export const SETTINGS: readonly SettingDefinition[] = [
  // Core: concurrency, limits, compression.
  { name: 'WALG_DOWNLOAD_CONCURRENCY', type: 'int', default: '10', allowed: true, group: 'core', doc: 'Parallel downloads in backup-fetch and WAL files prefetched by wal-fetch (1 turns prefetch off).' },
  { name: 'WALG_UPLOAD_CONCURRENCY', type: 'int', default: '16', allowed: true, group: 'core', doc: 'Parallel uploads; wal-push runs this many minus one background pushers.' },
  { name: 'WALG_UPLOAD_DISK_CONCURRENCY', type: 'int', default: '1', allowed: true, group: 'core', doc: 'Tar parts built in parallel by backup-push (4 under --turbo).' },
  { name: 'WALG_UPLOAD_QUEUE', type: 'int', default: '2', allowed: true, group: 'core', doc: 'Finished tar parts that may wait for upload at once during backup-push.' },
  { name: 'WALG_DOWNLOAD_FILE_RETRIES', type: 'int', default: '15', allowed: true, group: 'core', doc: 'Attempts per tar part in backup-fetch.' },
  { name: 'TOTAL_BG_UPLOADED_LIMIT', type: 'int', default: '32', allowed: true, group: 'core', doc: 'Most WAL files one wal-push call handles, counting the one it was given.' },
  { name: 'WALG_COMPRESSION_METHOD', type: 'string', default: 'lz4', allowed: true, group: 'core', doc: 'Compression for new objects: lz4, lzma, zstd, brotli or none.' },
  { name: 'WALG_DISK_RATE_LIMIT', type: 'int', allowed: true, group: 'core', doc: 'Bytes per second backup-push may read from disk.' },
  { name: 'WALG_NETWORK_RATE_LIMIT', type: 'int', allowed: true, group: 'core', doc: 'Bytes per second of storage traffic.' },
  { name: 'WALG_STORAGE_PREFIX', type: 'string', allowed: true, group: 'core', doc: 'Extra sub-path under the root of the primary and every failover storage.' },
  { name: 'WALG_SERIALIZER_TYPE', type: 'string', default: 'json_default', allowed: true, group: 'core', doc: 'How files_metadata.json is written: json_default or json_streamed.' },
  { name: 'WALG_STREAM_CREATE_COMMAND', type: 'string', allowed: true, group: 'core', doc: 'Shell command producing a backup stream (not used by the PG commands).' },
  { name: 'WALG_STREAM_RESTORE_COMMAND', type: 'string', allowed: true, group: 'core', doc: 'Shell command consuming a backup stream (not used by the PG commands).' },
  { name: 'WALG_DIRECT_IO', type: 'bool', default: 'false', allowed: true, group: 'core', doc: 'Read data files with O_DIRECT during backup-push (experimental).' },
  { name: 'WALG_TARGET_STORAGE', type: 'string', allowed: false, group: 'core', doc: 'Default for --target-storage; read by WAL-G but not in its allowed list.' },

  // Backups, deltas and WAL handling.
  { name: 'WALG_SENTINEL_USER_DATA', type: 'json', allowed: true, group: 'backup', doc: 'JSON user data stored in the backup sentinel.' },
  { name: 'WALG_PREVENT_WAL_OVERWRITE', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'wal-push compares with an already archived file instead of overwriting it.' },
  { name: 'WALG_UPLOAD_WAL_METADATA', type: 'string', default: 'NOMETADATA', allowed: true, group: 'backup', doc: 'WAL metadata uploads: NOMETADATA, INDIVIDUAL or BULK.' },
  { name: 'WALG_DELTA_MAX_STEPS', type: 'int', default: '0', allowed: true, group: 'backup', doc: 'Most delta backups between two full ones (0 turns deltas off).' },
  { name: 'WALG_DELTA_ORIGIN', type: 'string', impliedDefault: 'LATEST', allowed: true, group: 'backup', doc: 'Base of a delta backup: LATEST or LATEST_FULL.' },
  { name: 'WALG_DELTA_FROM_NAME', type: 'string', allowed: true, group: 'backup', doc: 'Default for backup-push --delta-from-name.' },
  { name: 'WALG_DELTA_FROM_USER_DATA', type: 'json', allowed: true, group: 'backup', doc: 'Default for backup-push --delta-from-user-data.' },
  { name: 'WALG_FETCH_TARGET_USER_DATA', type: 'json', allowed: true, group: 'backup', doc: 'Default for backup-fetch --target-user-data.' },
  { name: 'WALG_USE_WAL_DELTA', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'wal-push records changed-block maps that backup-push then uses instead of a full scan.' },
  { name: 'WALG_FORCE_WAL_DELTA', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'Fail instead of falling back to a full scan when delta maps cannot be read.' },
  { name: 'WALG_TAR_SIZE_THRESHOLD', type: 'int', default: '1073741823', allowed: true, group: 'backup', doc: 'Bytes per tar part.' },
  { name: 'WALG_TAR_DISABLE_FSYNC', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'Skip fsync of extracted files.' },
  { name: 'WALG_USE_REVERSE_UNPACK', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-fetch unpacks the newest delta first.' },
  { name: 'WALG_SKIP_REDUNDANT_TARS', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-fetch skips tar parts whose files a later delta replaces.' },
  { name: 'WALG_VERIFY_PAGE_CHECKSUMS', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-push verifies page checksums while reading.' },
  { name: 'WALG_STORE_ALL_CORRUPT_BLOCKS', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'Report every corrupt block instead of the first few.' },
  {
    name: 'WALNUT_DELTA_FROM_WAL_SUMMARIES',
    type: 'bool',
    allowed: false,
    walnutOnly: true,
    group: 'backup',
    doc: 'Walnut only: delta backups take changed blocks from PostgreSQL 17+ WAL summaries (summarize_wal) instead of a page scan.',
  },
  { name: 'WALG_USE_RATING_COMPOSER', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-push groups files into tars by change rating.' },
  { name: 'WALG_USE_COPY_COMPOSER', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-push copies unchanged tars from the previous backup.' },
  { name: 'WALG_USE_DATABASE_COMPOSER', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-push groups files into tars by database.' },
  { name: 'WALG_WITHOUT_FILES_METADATA', type: 'bool', default: 'false', allowed: true, group: 'backup', doc: 'backup-push does not write per-file metadata.' },
  { name: 'WALG_INTEGRITY_MAX_DELAYED_WALS', type: 'int', default: '0', allowed: true, group: 'backup', doc: 'WAL segments wal-verify tolerates as not yet archived.' },

  // PostgreSQL connection and cluster layout.
  { name: 'PGHOST', type: 'string', allowed: true, group: 'pg', doc: 'Server host or socket directory (libpq meaning).' },
  { name: 'PGPORT', type: 'string', allowed: true, group: 'pg', doc: 'Server port.' },
  { name: 'PGUSER', type: 'string', allowed: true, group: 'pg', doc: 'Database user.' },
  { name: 'PGPASSWORD', type: 'string', secret: true, allowed: true, group: 'pg', doc: 'Database password.' },
  { name: 'PGPASSFILE', type: 'string', allowed: true, group: 'pg', doc: 'Password file instead of ~/.pgpass.' },
  { name: 'PGDATABASE', type: 'string', allowed: true, group: 'pg', doc: 'Database to connect to.' },
  { name: 'PGSSLMODE', type: 'string', allowed: true, group: 'pg', doc: 'TLS mode (libpq meaning).' },
  { name: 'PGSSLCERT', type: 'string', allowed: true, group: 'pg', doc: 'Client certificate file.' },
  { name: 'PGSSLKEY', type: 'string', allowed: true, group: 'pg', doc: 'Client key file.' },
  { name: 'PGSSLROOTCERT', type: 'string', allowed: true, group: 'pg', doc: 'CA certificate file.' },
  { name: 'PGAPPNAME', type: 'string', default: 'wal-g', allowed: true, group: 'pg', doc: 'application_name of our connections.' },
  { name: 'PGDATA', type: 'string', allowed: true, group: 'pg', doc: 'Data directory; the daemon and the WAL-delta files need it.' },
  { name: 'WALG_SLOTNAME', type: 'string', impliedDefault: 'walg', allowed: true, group: 'pg', doc: 'Replication slot used by wal-receive.' },
  { name: 'WALG_PG_WAL_SIZE', type: 'int', default: '16', allowed: true, group: 'pg', doc: 'WAL segment size in MiB.' },
  { name: 'WALG_PG_WAL_PAGE_SIZE', type: 'int', default: '8192', allowed: true, group: 'pg', doc: 'WAL page size in bytes.' },
  { name: 'WALG_PG_BLOCK_SIZE', type: 'int', default: '8192', allowed: true, group: 'pg', doc: 'Database block size in bytes.' },
  { name: 'WALG_PREFETCH_DIR', type: 'string', allowed: true, group: 'pg', doc: 'Directory for prefetched WAL instead of one next to the WAL destination.' },
  { name: 'PG_READY_RENAME', type: 'bool', impliedDefault: 'false', allowed: true, group: 'pg', doc: 'Rename .ready to .done for WAL files pushed in the background.' },
  { name: 'PGBACKREST_STANZA', type: 'string', default: 'main', allowed: true, group: 'pg', doc: 'Stanza for the pgbackrest commands.' },
  { name: 'WALG_ALIVE_CHECK_INTERVAL', type: 'duration', default: '1m', allowed: true, group: 'pg', doc: 'How often backup-push checks that PostgreSQL is still up.' },
  { name: 'WALG_STOP_BACKUP_TIMEOUT', type: 'duration', allowed: true, group: 'pg', doc: 'statement_timeout for the stop-backup call (unset: none).' },
  { name: 'WALG_DAEMON_WAL_UPLOAD_TIMEOUT', type: 'duration', default: '60s', allowed: true, group: 'pg', doc: 'Time the daemon allows for one WAL push.' },
  { name: 'WALG_DISABLE_PARTIAL_RESTORE', type: 'bool', impliedDefault: 'false', allowed: true, group: 'pg', doc: 'Skip collecting database and table names (needed for partial restore).' },
  { name: 'NOTIFY_SOCKET', type: 'string', allowed: false, group: 'pg', doc: 'systemd notification socket the daemon reports readiness to.' },

  // Failover storages.
  { name: 'WALG_FAILOVER_STORAGES', type: 'map', allowed: true, group: 'failover', doc: 'Config-file map of failover storage name to its storage settings.' },
  { name: 'WALG_FAILOVER_STORAGES_CHECK', type: 'bool', allowed: true, group: 'failover', doc: 'Check storage aliveness (default: on when failover storages exist).' },
  { name: 'WALG_FAILOVER_STORAGES_CHECK_TIMEOUT', type: 'duration', default: '30s', allowed: true, group: 'failover', doc: 'Time allowed for one aliveness check.' },
  { name: 'WALG_FAILOVER_STORAGES_CHECK_SIZE', type: 'size', default: '1mb', allowed: true, group: 'failover', doc: 'Bytes written by the read-write aliveness check.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_LIFETIME', type: 'duration', default: '15m', allowed: true, group: 'failover', doc: 'How long an aliveness result stays cached.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALIVE_LIMIT', type: 'float', impliedDefault: '0.99', allowed: true, group: 'failover', doc: 'Average score above which a dead storage counts as alive again.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_DEAD_LIMIT', type: 'float', impliedDefault: '0.88', allowed: true, group: 'failover', doc: 'Average score below which an alive storage counts as dead.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_ALIVE_MAX', type: 'float', impliedDefault: '0.05', allowed: true, group: 'failover', doc: 'Largest smoothing factor while alive.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_ALIVE_MIN', type: 'float', impliedDefault: '0.01', allowed: true, group: 'failover', doc: 'Smallest smoothing factor while alive.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MAX', type: 'float', impliedDefault: '0.5', allowed: true, group: 'failover', doc: 'Largest smoothing factor while dead.' },
  { name: 'WALG_FAILOVER_STORAGES_CACHE_EMA_ALPHA_DEAD_MIN', type: 'float', impliedDefault: '0.1', allowed: true, group: 'failover', doc: 'Smallest smoothing factor while dead.' },

  // Storage prefixes (the adapter order lives in STORAGE_ADAPTERS).
  { name: 'WALG_OSS_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'Alibaba OSS location, oss://bucket/path.' },
  { name: 'WALG_S3_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'S3 location, s3://bucket/path.' },
  { name: 'WALE_S3_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_S3_PREFIX.' },
  { name: 'WALG_FILE_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'Local directory used as storage.' },
  { name: 'WALG_GS_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'Google Cloud Storage location, gs://bucket/path.' },
  { name: 'WALG_AZ_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'Azure Blob location, azure://container/path.' },
  { name: 'WALG_SWIFT_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'OpenStack Swift location, swift://container/path.' },
  { name: 'WALG_SSH_PREFIX', type: 'string', allowed: true, group: 'storage-prefix', doc: 'SFTP location, ssh://host/path.' },
  { name: 'WALE_OSS_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_OSS_PREFIX (works, but warned about in a file).' },
  { name: 'WALE_FILE_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_FILE_PREFIX (works, but warned about in a file).' },
  { name: 'WALE_GS_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_GS_PREFIX (works, but warned about in a file).' },
  { name: 'WALE_AZ_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_AZ_PREFIX (works, but warned about in a file).' },
  { name: 'WALE_SWIFT_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_SWIFT_PREFIX (works, but warned about in a file).' },
  { name: 'WALE_SSH_PREFIX', type: 'string', allowed: false, group: 'storage-prefix', doc: 'WAL-E spelling of WALG_SSH_PREFIX (works, but warned about in a file).' },

  // S3 and compatibles.
  { name: 'AWS_ACCESS_KEY_ID', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Static access key id (used only together with a secret key).' },
  { name: 'AWS_ACCESS_KEY', type: 'string', allowed: true, group: 's3', doc: 'Fallback spelling of AWS_ACCESS_KEY_ID.' },
  { name: 'AWS_SECRET_ACCESS_KEY', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Static secret key.' },
  // Not hidden by WAL-G; we hide it because it is a credential.
  { name: 'AWS_SECRET_KEY', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Fallback spelling of AWS_SECRET_ACCESS_KEY.' },
  { name: 'AWS_SESSION_TOKEN', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Session token for temporary credentials.' },
  { name: 'AWS_ROLE_ARN', type: 'string', allowed: true, group: 's3', doc: 'Role to assume through STS.' },
  { name: 'AWS_ROLE_SESSION_NAME', type: 'string', allowed: true, group: 's3', doc: 'Session name for the assumed role.' },
  { name: 'AWS_REGION', type: 'string', allowed: true, group: 's3', doc: 'Bucket region (detected when unset).' },
  { name: 'AWS_ENDPOINT', type: 'string', allowed: true, group: 's3', doc: 'Custom endpoint URL, e.g. http://minio:9000.' },
  { name: 'AWS_S3_FORCE_PATH_STYLE', type: 'bool', impliedDefault: 'false', allowed: true, group: 's3', doc: 'Path-style bucket addressing.' },
  { name: 'AWS_DUAL_STACK', type: 'bool', impliedDefault: 'false', allowed: true, group: 's3', doc: 'Use dual-stack (IPv4 and IPv6) endpoints.' },
  { name: 'AWS_DEFAULT_REGION', type: 'string', allowed: true, group: 's3', doc: 'Region for the AWS SDK, read from the environment.' },
  { name: 'AWS_DEFAULT_OUTPUT', type: 'string', allowed: true, group: 's3', doc: 'AWS CLI output format; accepted for compatibility.' },
  { name: 'AWS_PROFILE', type: 'string', allowed: true, group: 's3', doc: 'Profile in the shared AWS config files.' },
  { name: 'AWS_CA_BUNDLE', type: 'string', allowed: true, group: 's3', doc: 'CA bundle the AWS SDK trusts.' },
  { name: 'AWS_SHARED_CREDENTIALS_FILE', type: 'string', allowed: true, group: 's3', doc: 'Path of the shared AWS credentials file.' },
  { name: 'AWS_CONFIG_FILE', type: 'string', allowed: true, group: 's3', doc: 'Path of the shared AWS config file.' },
  { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', type: 'string', allowed: false, group: 's3', doc: 'Web identity token (IRSA); with AWS_ROLE_ARN in the environment, skips explicit role assumption.' },
  { name: 'S3_ENDPOINT_SOURCE', type: 'string', allowed: true, group: 's3', doc: 'URL answering with the host to send each request to.' },
  { name: 'S3_ENDPOINT_PORT', type: 'string', impliedDefault: '443', allowed: true, group: 's3', doc: 'Port used with S3_ENDPOINT_SOURCE.' },
  { name: 'S3_CA_CERT_FILE', type: 'string', allowed: true, group: 's3', doc: 'PEM file of extra CA certificates.' },
  { name: 'S3_STORAGE_CLASS', type: 'string', impliedDefault: 'STANDARD', allowed: true, group: 's3', doc: 'Storage class of uploaded objects.' },
  { name: 'S3_SSE', type: 'string', allowed: true, group: 's3', doc: 'Server-side encryption: AES256 or aws:kms (the SSE-C algorithm with S3_SSE_C).' },
  // Not hidden by WAL-G; we hide it because it is an encryption key.
  { name: 'S3_SSE_C', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Customer-provided SSE-C key.' },
  { name: 'S3_SSE_KMS_ID', type: 'string', allowed: true, group: 's3', doc: 'KMS key id; required exactly when S3_SSE is aws:kms.' },
  { name: 'S3_SKIP_VALIDATION', type: 'bool', impliedDefault: 'true', allowed: true, group: 's3', doc: 'false: list one key at start to validate credentials.' },
  { name: 'S3_USE_YC_SESSION_TOKEN', type: 'bool', allowed: true, group: 's3', doc: 'Send the metadata-service token as a Yandex Cloud subject token.' },
  { name: 'UPLOAD_CONCURRENCY', type: 'int', allowed: true, group: 's3', doc: 'Multipart upload concurrency per object (falls back to WALG_UPLOAD_CONCURRENCY).' },
  { name: 'S3_MAX_PART_SIZE', type: 'int', impliedDefault: '20971520', allowed: true, group: 's3', doc: 'Multipart part size in bytes.' },
  { name: 'S3_USE_LIST_OBJECTS_V1', type: 'bool', impliedDefault: 'false', allowed: true, group: 's3', doc: 'List with ListObjects (v1) instead of ListObjectsV2.' },
  { name: 'S3_LOG_LEVEL', type: 'string', allowed: true, group: 's3', doc: 'DEVEL logs every SDK request and response.' },
  { name: 'S3_RANGE_BATCH_ENABLED', type: 'bool', impliedDefault: 'false', allowed: true, group: 's3', doc: 'Resume broken downloads with ranged requests.' },
  { name: 'S3_RANGE_MAX_RETRIES', type: 'int', impliedDefault: '10', allowed: true, group: 's3', doc: 'Ranged resume attempts per download.' },
  { name: 'S3_MAX_RETRIES', type: 'int', impliedDefault: '15', allowed: true, group: 's3', doc: 'SDK retries per request.' },
  { name: 'S3_REQUEST_ADDITIONAL_HEADERS', type: 'string', allowed: true, group: 's3', doc: 'YAML or JSON map of extra request headers.' },
  { name: 'S3_MIN_THROTTLING_RETRY_DELAY', type: 'int', impliedDefault: '500', allowed: true, group: 's3', doc: 'Shortest back-off after throttling, in milliseconds.' },
  { name: 'S3_MAX_THROTTLING_RETRY_DELAY', type: 'int', impliedDefault: '300000', allowed: true, group: 's3', doc: 'Longest back-off after throttling, in milliseconds.' },
  { name: 'S3_RETENTION_PERIOD', type: 'int', impliedDefault: '-1', allowed: true, group: 's3', doc: 'Object-lock retention in seconds (negative: none).' },
  { name: 'S3_RETENTION_MODE', type: 'string', impliedDefault: 'GOVERNANCE', allowed: true, group: 's3', doc: 'Object-lock mode: GOVERNANCE or COMPLIANCE.' },
  { name: 'S3_DISABLE_100_CONTINUE', type: 'bool', impliedDefault: 'false', allowed: true, group: 's3', doc: 'Do not send Expect: 100-continue.' },
  { name: 'S3_ENABLE_VERSIONING', type: 'string', allowed: true, group: 's3', doc: 'enabled or disabled; unset asks the bucket.' },
  { name: 'S3_DELETE_BATCH_SIZE', type: 'int', impliedDefault: '1000', allowed: true, group: 's3', doc: 'Keys per DeleteObjects request.' },
  { name: 'WALG_S3_CA_CERT_FILE', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_CA_CERT_FILE.' },
  { name: 'WALG_S3_STORAGE_CLASS', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_STORAGE_CLASS.' },
  { name: 'WALG_S3_SSE', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_SSE.' },
  // Not hidden by WAL-G; we hide it because it is an encryption key.
  { name: 'WALG_S3_SSE_C', type: 'string', secret: true, allowed: true, group: 's3', doc: 'Alias of S3_SSE_C.' },
  { name: 'WALG_S3_SSE_KMS_ID', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_SSE_KMS_ID.' },
  { name: 'WALG_S3_MAX_PART_SIZE', type: 'int', allowed: true, group: 's3', doc: 'Alias of S3_MAX_PART_SIZE.' },
  { name: 'WALG_S3_ENDPOINT_SOURCE', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_ENDPOINT_SOURCE.' },
  { name: 'WALG_S3_ENDPOINT_PORT', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_ENDPOINT_PORT.' },
  { name: 'WALG_S3_USE_LIST_OBJECTS_V1', type: 'bool', allowed: true, group: 's3', doc: 'Alias of S3_USE_LIST_OBJECTS_V1.' },
  { name: 'WALG_S3_LOG_LEVEL', type: 'string', allowed: true, group: 's3', doc: 'Alias of S3_LOG_LEVEL.' },
  { name: 'WALG_S3_RANGE_BATCH_ENABLED', type: 'bool', allowed: true, group: 's3', doc: 'Alias of S3_RANGE_BATCH_ENABLED.' },
  { name: 'WALG_S3_RANGE_MAX_RETRIES', type: 'int', allowed: true, group: 's3', doc: 'Alias of S3_RANGE_MAX_RETRIES.' },
  { name: 'WALG_S3_MAX_RETRIES', type: 'int', allowed: true, group: 's3', doc: 'Alias of S3_MAX_RETRIES.' },

  // Google Cloud Storage.
  { name: 'GOOGLE_APPLICATION_CREDENTIALS', type: 'string', secret: true, allowed: true, group: 'gcs', doc: 'Service-account JSON file (else application default credentials).' },
  { name: 'GCS_CONTEXT_TIMEOUT', type: 'int', impliedDefault: '3600', allowed: true, group: 'gcs', doc: 'Seconds allowed per operation.' },
  { name: 'GCS_NORMALIZE_PREFIX', type: 'bool', impliedDefault: 'true', allowed: true, group: 'gcs', doc: 'false keeps double slashes in the prefix (WAL-E layouts).' },
  // Not hidden by WAL-G; we hide it because it is an encryption key.
  { name: 'GCS_ENCRYPTION_KEY', type: 'string', secret: true, allowed: true, group: 'gcs', doc: 'Base64 32-byte customer-supplied encryption key.' },
  { name: 'GCS_MAX_CHUNK_SIZE', type: 'int', impliedDefault: '52428800', allowed: true, group: 'gcs', doc: 'Upload chunk size in bytes.' },
  { name: 'GCS_MAX_RETRIES', type: 'int', impliedDefault: '16', allowed: true, group: 'gcs', doc: 'Retries per upload or download.' },

  // Azure Blob Storage.
  { name: 'AZURE_STORAGE_ACCOUNT', type: 'string', allowed: true, group: 'azure', doc: 'Storage account name (required).' },
  { name: 'AZURE_STORAGE_ACCESS_KEY', type: 'string', secret: true, allowed: true, group: 'azure', doc: 'Shared-key credential (preferred over a SAS token).' },
  { name: 'AZURE_STORAGE_SAS_TOKEN', type: 'string', secret: true, allowed: true, group: 'azure', doc: 'SAS token credential.' },
  { name: 'AZURE_ENVIRONMENT_NAME', type: 'string', impliedDefault: 'AzurePublicCloud', allowed: true, group: 'azure', doc: 'Cloud whose endpoint suffix to use.' },
  { name: 'AZURE_ENDPOINT_SUFFIX', type: 'string', allowed: true, group: 'azure', doc: 'Endpoint suffix, overriding AZURE_ENVIRONMENT_NAME.' },
  { name: 'AZURE_BUFFER_SIZE', type: 'int', impliedDefault: '8388608', allowed: true, group: 'azure', doc: 'Upload buffer size in bytes (at least 1024).' },
  { name: 'AZURE_MAX_BUFFERS', type: 'int', impliedDefault: '4', allowed: true, group: 'azure', doc: 'Upload buffers per object (at least 1).' },
  { name: 'AZURE_TRY_TIMEOUT', type: 'int', impliedDefault: '5', allowed: true, group: 'azure', doc: 'Minutes allowed per attempt.' },
  { name: 'WALG_AZURE_BUFFER_SIZE', type: 'int', allowed: true, group: 'azure', doc: 'Alias of AZURE_BUFFER_SIZE.' },
  { name: 'WALG_AZURE_MAX_BUFFERS', type: 'int', allowed: true, group: 'azure', doc: 'Alias of AZURE_MAX_BUFFERS.' },

  // Alibaba Cloud OSS.
  { name: 'OSS_ACCESS_KEY_ID', type: 'string', secret: true, allowed: true, group: 'oss', doc: 'Access key id.' },
  { name: 'OSS_ACCESS_KEY_SECRET', type: 'string', secret: true, allowed: true, group: 'oss', doc: 'Access key secret.' },
  { name: 'OSS_SESSION_TOKEN', type: 'string', secret: true, allowed: true, group: 'oss', doc: 'Security token for temporary credentials.' },
  { name: 'OSS_ENDPOINT', type: 'string', allowed: true, group: 'oss', doc: 'Endpoint host.' },
  { name: 'OSS_REGION', type: 'string', allowed: true, group: 'oss', doc: 'Bucket region.' },
  { name: 'OSS_ROLE_ARN', type: 'string', allowed: true, group: 'oss', doc: 'RAM role to assume.' },
  { name: 'OSS_ROLE_SESSION_NAME', type: 'string', allowed: true, group: 'oss', doc: 'Session name for the assumed role.' },
  { name: 'OSS_SKIP_VALIDATION', type: 'bool', impliedDefault: 'false', allowed: true, group: 'oss', doc: 'Skip the listing that validates credentials at start.' },
  { name: 'OSS_MAX_RETRIES', type: 'int', impliedDefault: '5', allowed: true, group: 'oss', doc: 'Retries per request.' },
  { name: 'OSS_CONNECT_TIMEOUT', type: 'int', impliedDefault: '5', allowed: true, group: 'oss', doc: 'Connect timeout in seconds.' },
  { name: 'OSS_UPLOAD_PART_SIZE', type: 'int', allowed: true, group: 'oss', doc: 'Multipart upload part size in bytes.' },
  { name: 'OSS_COPY_PART_SIZE', type: 'int', allowed: true, group: 'oss', doc: 'Multipart copy part size in bytes.' },

  // OpenStack Swift (the client also reads other OS_* variables from the environment).
  { name: 'OS_AUTH_URL', type: 'string', allowed: true, group: 'swift', doc: 'Keystone authentication URL.' },
  { name: 'OS_USERNAME', type: 'string', allowed: true, group: 'swift', doc: 'User name.' },
  { name: 'OS_PASSWORD', type: 'string', secret: true, allowed: true, group: 'swift', doc: 'Password.' },
  { name: 'OS_TENANT_NAME', type: 'string', allowed: true, group: 'swift', doc: 'Tenant (project) name.' },
  { name: 'OS_REGION_NAME', type: 'string', allowed: true, group: 'swift', doc: 'Region name.' },

  // SSH / SFTP.
  { name: 'SSH_PORT', type: 'string', impliedDefault: '22', allowed: true, group: 'ssh', doc: 'SSH port.' },
  { name: 'SSH_USERNAME', type: 'string', allowed: true, group: 'ssh', doc: 'SSH user.' },
  { name: 'SSH_PASSWORD', type: 'string', secret: true, allowed: true, group: 'ssh', doc: 'SSH password.' },
  { name: 'SSH_PRIVATE_KEY_PATH', type: 'string', allowed: true, group: 'ssh', doc: 'Private key file.' },

  // Client-side encryption.
  { name: 'WALG_PGP_KEY', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'Armored OpenPGP key (public for push, private for fetch).' },
  { name: 'WALG_PGP_KEY_PATH', type: 'string', allowed: true, group: 'crypto', doc: 'File holding the armored OpenPGP key.' },
  { name: 'WALG_PGP_KEY_PASSPHRASE', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'Passphrase of an encrypted private key.' },
  { name: 'WALG_GPG_KEY_ID', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'Key id in the local GPG keyring (deprecated external gpg).' },
  { name: 'WALE_GPG_KEY_ID', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'WAL-E spelling of WALG_GPG_KEY_ID.' },
  { name: 'GPG_KEY_ID', type: 'string', allowed: false, group: 'crypto', doc: 'Bare name that switches on the deprecated external gpg path.' },
  { name: 'WALG_ENVELOPE_PGP_KEY', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'Base64 KMS-encrypted armored key for envelope encryption.' },
  { name: 'WALG_ENVELOPE_PGP_KEY_PATH', type: 'string', allowed: true, group: 'crypto', doc: 'File holding the envelope key.' },
  { name: 'WALG_ENVELOPE_PGP_YC_CSE_KMS_KEY_ID', type: 'string', allowed: true, group: 'crypto', doc: 'Yandex Cloud KMS key that wraps the envelope key.' },
  { name: 'WALG_ENVELOPE_PGP_YC_SERVICE_ACCOUNT_KEY_FILE', type: 'string', allowed: true, group: 'crypto', doc: 'Yandex Cloud service-account key file for envelope encryption.' },
  { name: 'WALG_ENVELOPE_PGP_YC_ENDPOINT', type: 'string', allowed: true, group: 'crypto', doc: 'Yandex Cloud API endpoint for envelope encryption.' },
  { name: 'WALG_ENVELOPE_CACHE_EXPIRATION', type: 'duration', default: '0', allowed: true, group: 'crypto', doc: 'How long an unwrapped envelope key is cached (0: forever).' },
  { name: 'WALG_LIBSODIUM_KEY', type: 'string', secret: true, allowed: true, group: 'crypto', doc: 'libsodium secretstream key.' },
  { name: 'WALG_LIBSODIUM_KEY_PATH', type: 'string', allowed: true, group: 'crypto', doc: 'File holding the libsodium key.' },
  { name: 'WALG_LIBSODIUM_KEY_TRANSFORM', type: 'string', default: 'none', allowed: true, group: 'crypto', doc: 'How the libsodium key is written: base64, hex or none.' },
  { name: 'WALG_CSE_KMS_ID', type: 'string', allowed: true, group: 'crypto', doc: 'AWS KMS key for client-side encryption.' },
  { name: 'WALG_CSE_KMS_REGION', type: 'string', allowed: true, group: 'crypto', doc: 'Region of the AWS KMS key.' },
  { name: 'YC_CSE_KMS_KEY_ID', type: 'string', allowed: true, group: 'crypto', doc: 'Yandex Cloud KMS key for client-side encryption.' },
  { name: 'YC_SERVICE_ACCOUNT_KEY_FILE', type: 'string', allowed: true, group: 'crypto', doc: 'Yandex Cloud service-account key file (else the metadata service).' },

  // Logging.
  { name: 'WALG_LOG_LEVEL', type: 'string', default: 'NORMAL', allowed: true, group: 'log', doc: 'NORMAL, DEVEL or ERROR.' },
  { name: 'WALG_LOG_DESTINATION', type: 'string', impliedDefault: 'stderr', allowed: true, group: 'log', doc: 'File to append log lines to, or stderr.' },

  // Monitoring and profiling.
  { name: 'WALG_STATSD_ADDRESS', type: 'string', allowed: true, group: 'monitoring', doc: 'host:port of a StatsD server to push metrics to.' },
  { name: 'WALG_STATSD_EXTRA_TAGS', type: 'map', allowed: true, group: 'monitoring', doc: 'Static tags added to every metric (a JSON object outside a config file).' },
  { name: 'PROFILE_SAMPLING_RATIO', type: 'float', allowed: true, group: 'monitoring', doc: 'Probability (0..1) that a run is profiled.' },
  { name: 'PROFILE_MODE', type: 'string', impliedDefault: 'cpu', allowed: true, group: 'monitoring', doc: 'What to profile: cpu, mem, mutex, block, threadcreation, trace or goroutine.' },
  { name: 'PROFILE_PATH', type: 'string', allowed: true, group: 'monitoring', doc: 'Directory for profile files (default: the temp directory).' },
  { name: 'HTTP_LISTEN', type: 'string', allowed: true, group: 'monitoring', doc: 'Address of the debug web server (not started by PG commands).' },
  { name: 'HTTP_EXPOSE_PPROF', type: 'bool', allowed: true, group: 'monitoring', doc: 'Serve pprof endpoints on HTTP_LISTEN.' },
  { name: 'HTTP_EXPOSE_EXPVAR', type: 'bool', allowed: true, group: 'monitoring', doc: 'Serve expvar endpoints on HTTP_LISTEN.' },

  // Go runtime knobs WAL-G accepts; exported to child processes, otherwise without effect here.
  { name: 'GOMAXPROCS', type: 'int', allowed: true, group: 'runtime', doc: 'WAL-G CPU limit; accepted for compatibility.' },
  { name: 'GODEBUG', type: 'string', allowed: true, group: 'runtime', doc: 'Go runtime debug switches; accepted for compatibility.' },
];

// Plain lists are computed once at import (a few microseconds); the lookup maps are built on first use.

/** WAL-G's PG allowed list: these names get hidden flags and never trigger the unknown-key warning. */
export const ALLOWED_SETTING_NAMES: readonly string[] = SETTINGS.filter((row) => row.allowed).map((row) => row.name);

/** Names whose values are replaced by `--HIDDEN--` in the DEVEL dump and must never be logged. */
export const SECRET_SETTING_NAMES: ReadonlySet<string> = new Set(SETTINGS.filter((row) => row.secret).map((row) => row.name));

/** The two settings that are nested maps: never exported to the environment. */
export const NESTED_MAP_SETTINGS: ReadonlySet<string> = new Set(['WALG_FAILOVER_STORAGES', 'WALG_STATSD_EXTRA_TAGS']);

/** [name, default] for every setting with a built-in default. */
export const SETTING_DEFAULTS: readonly (readonly [string, string])[] = SETTINGS.filter((row) => row.default !== undefined).map(
  (row) => [row.name, row.default!] as const,
);

let byName: Map<string, SettingDefinition> | undefined;
let byFlagName: Map<string, SettingDefinition> | undefined;
let allowedNameSet: ReadonlySet<string> | undefined;

/** The hidden flag of a setting: lower case with `_` turned into `-` (`WALG_S3_PREFIX` → `walg-s3-prefix`). */
export function settingFlagName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

/** The row for a setting name (any case), or undefined for names WAL-G does not know. */
export function findSetting(name: string): SettingDefinition | undefined {
  if (byName === undefined) {
    byName = new Map();
    for (const row of SETTINGS) byName.set(row.name, row);
  }
  return byName.get(name) ?? byName.get(name.toUpperCase());
}

/** The row whose hidden flag is `flagName` (given without the leading dashes); only allowed settings have flags. */
export function findSettingByFlagName(flagName: string): SettingDefinition | undefined {
  if (byFlagName === undefined) {
    byFlagName = new Map();
    for (const row of SETTINGS) if (row.allowed) byFlagName.set(settingFlagName(row.name), row);
  }
  return byFlagName.get(flagName);
}

/** True for names in WAL-G's PG allowed list (exact upper-case spelling). */
export function isAllowedSetting(name: string): boolean {
  if (allowedNameSet === undefined) allowedNameSet = new Set(ALLOWED_SETTING_NAMES);
  return allowedNameSet.has(name);
}
