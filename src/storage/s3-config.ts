// Reads WAL-G's S3 settings (config.md §3.3) into one plain object, with WAL-G's defaults and error texts; no SDK here.
//
// Kept apart from s3.ts so the rules (defaults, validation, header decoding) are testable without a server and
// without loading the AWS SDK.

import { WalgError } from '../errors.ts';
import { goQuote, parseGoBool } from './go-text.ts';
import { parseStoragePrefix } from './prefix.ts';

/** Looks up one canonical setting name; the WALG_/WALE_ alias rule is already applied. '' counts as unset. */
export type S3SettingLookup = (name: string) => string | undefined;

/** S3 refuses multipart parts below 5 MiB (except the last one). */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3 allows at most 10,000 parts per multipart upload. */
export const S3_MAX_PARTS = 10_000;

export const S3_DEFAULTS = {
  endpointPort: '443',
  maxRetries: 15,
  minThrottlingRetryDelayMs: 500,
  maxThrottlingRetryDelayMs: 300_000,
  maxPartSize: 20 * 1024 * 1024,
  storageClass: 'STANDARD',
  rangeMaxRetries: 10,
  retentionPeriodSeconds: -1,
  retentionMode: 'GOVERNANCE',
  deleteBatchSize: 1000,
  uploadConcurrency: 16,
} as const;

export type VersioningMode = 'enabled' | 'disabled' | 'auto';

export interface S3Config {
  bucket: string;
  /** Folder inside the bucket every key is appended to: '' or ending with '/'. */
  rootPath: string;
  endpoint: string | undefined;
  endpointSource: string | undefined;
  endpointPort: string;
  /** undefined: detect (GetBucketLocation on AWS endpoints, us-east-1 elsewhere). */
  region: string | undefined;
  forcePathStyle: boolean;
  dualStack: boolean;
  accessKey: string;
  secretKey: string;
  sessionToken: string;
  roleArn: string;
  roleSessionName: string;
  caCertFile: string | undefined;
  skipValidation: boolean;
  useYcSessionToken: boolean;
  requestHeaders: [string, string][];
  useListObjectsV1: boolean;
  maxRetries: number;
  minThrottlingRetryDelayMs: number;
  maxThrottlingRetryDelayMs: number;
  /** S3_LOG_LEVEL=DEVEL: log every SDK request and response line. */
  sdkDebugLog: boolean;
  uploadConcurrency: number;
  maxPartSize: number;
  storageClass: string;
  sse: string;
  sseCustomerKey: string;
  sseKmsKeyId: string;
  retentionPeriodSeconds: number;
  retentionMode: string;
  rangeBatchEnabled: boolean;
  rangeMaxRetries: number;
  disable100Continue: boolean;
  versioning: VersioningMode;
  deleteBatchSize: number;
}

/**
 * Builds the S3 configuration from the prefix (`s3://bucket/path`) and the settings. Errors carry WAL-G's texts
 * (without the `configure storage with prefix` wrapper, which openStorage adds).
 */
export function readS3Config(prefix: string, getSetting: S3SettingLookup): S3Config {
  const { bucket, path } = parseStoragePrefix('s3', prefix);
  const setting = (name: string): string | undefined => {
    const value = getSetting(name);
    return value === undefined || value === '' ? undefined : value;
  };
  const config: S3Config = {
    bucket,
    rootPath: path,
    endpoint: setting('AWS_ENDPOINT'),
    endpointSource: setting('S3_ENDPOINT_SOURCE'),
    endpointPort: setting('S3_ENDPOINT_PORT') ?? S3_DEFAULTS.endpointPort,
    region: setting('AWS_REGION'),
    forcePathStyle: boolSetting(setting, 'AWS_S3_FORCE_PATH_STYLE', false),
    dualStack: boolSetting(setting, 'AWS_DUAL_STACK', false),
    accessKey: (setting('AWS_ACCESS_KEY_ID') ?? setting('AWS_ACCESS_KEY') ?? '').trim(),
    secretKey: (setting('AWS_SECRET_ACCESS_KEY') ?? setting('AWS_SECRET_KEY') ?? '').trim(),
    sessionToken: setting('AWS_SESSION_TOKEN') ?? '',
    roleArn: setting('AWS_ROLE_ARN') ?? '',
    roleSessionName: setting('AWS_ROLE_SESSION_NAME') ?? '',
    caCertFile: setting('S3_CA_CERT_FILE'),
    skipValidation: boolSetting(setting, 'S3_SKIP_VALIDATION', true),
    useYcSessionToken: ycSessionToken(setting('S3_USE_YC_SESSION_TOKEN')),
    requestHeaders: decodeRequestHeaders(setting('S3_REQUEST_ADDITIONAL_HEADERS')),
    useListObjectsV1: boolSetting(setting, 'S3_USE_LIST_OBJECTS_V1', false),
    maxRetries: intSetting(setting, 'S3_MAX_RETRIES', S3_DEFAULTS.maxRetries),
    minThrottlingRetryDelayMs: intSetting(setting, 'S3_MIN_THROTTLING_RETRY_DELAY', S3_DEFAULTS.minThrottlingRetryDelayMs),
    maxThrottlingRetryDelayMs: intSetting(setting, 'S3_MAX_THROTTLING_RETRY_DELAY', S3_DEFAULTS.maxThrottlingRetryDelayMs),
    sdkDebugLog: setting('S3_LOG_LEVEL') === 'DEVEL',
    uploadConcurrency: intSetting(setting, 'UPLOAD_CONCURRENCY', S3_DEFAULTS.uploadConcurrency),
    maxPartSize: intSetting(setting, 'S3_MAX_PART_SIZE', S3_DEFAULTS.maxPartSize),
    storageClass: setting('S3_STORAGE_CLASS') ?? S3_DEFAULTS.storageClass,
    sse: setting('S3_SSE') ?? '',
    sseCustomerKey: setting('S3_SSE_C') ?? '',
    sseKmsKeyId: setting('S3_SSE_KMS_ID') ?? '',
    retentionPeriodSeconds: intSetting(setting, 'S3_RETENTION_PERIOD', S3_DEFAULTS.retentionPeriodSeconds),
    retentionMode: setting('S3_RETENTION_MODE') ?? S3_DEFAULTS.retentionMode,
    rangeBatchEnabled: boolSetting(setting, 'S3_RANGE_BATCH_ENABLED', false),
    rangeMaxRetries: intSetting(setting, 'S3_RANGE_MAX_RETRIES', S3_DEFAULTS.rangeMaxRetries),
    disable100Continue: boolSetting(setting, 'S3_DISABLE_100_CONTINUE', false),
    versioning: versioningMode(setting('S3_ENABLE_VERSIONING')),
    deleteBatchSize: intSetting(setting, 'S3_DELETE_BATCH_SIZE', S3_DEFAULTS.deleteBatchSize),
  };
  checkS3Config(config);
  return config;
}

/** The checks WAL-G makes while creating the uploader, plus the limits S3 itself would reject later. */
function checkS3Config(config: S3Config): void {
  // WAL-G's rule is symmetric: aws:kms needs a key id, and a key id needs aws:kms.
  if ((config.sse === 'aws:kms') === (config.sseKmsKeyId === '')) {
    throw new WalgError(
      "create S3 storage: create new S3 uploader: server-side encryption KMS key ID must be set if 'aws:kms' encryption is used",
    );
  }
  if (config.maxPartSize < S3_MIN_PART_SIZE) {
    throw new WalgError(
      `create S3 storage: setting "S3_MAX_PART_SIZE" is ${config.maxPartSize} bytes, below the ${S3_MIN_PART_SIZE} bytes (5 MiB) ` +
        'S3 accepts for a multipart part: raise it',
    );
  }
  if (config.uploadConcurrency < 1) {
    throw new WalgError(`create S3 storage: setting "UPLOAD_CONCURRENCY" is ${config.uploadConcurrency}; it must be at least 1`);
  }
  if (config.maxRetries < 0) {
    throw new WalgError(`create S3 storage: setting "S3_MAX_RETRIES" is ${config.maxRetries}; it must be 0 or more`);
  }
}

/**
 * Bytes the upload of one object holds in memory at most (s3-upload.ts): one pooled part buffer per request in
 * flight plus the part being filled. With WAL-G's defaults (20 MiB × (16 + 1)) that is 340 MiB per concurrent
 * put, the same as WAL-G's own uploader; lower S3_MAX_PART_SIZE or UPLOAD_CONCURRENCY to shrink it.
 */
export function s3UploadMemoryBound(config: Pick<S3Config, 'maxPartSize' | 'uploadConcurrency'>): number {
  return config.maxPartSize * (config.uploadConcurrency + 1);
}

/** The part size for one upload: the configured size, grown when a known size would need more than 10,000 parts. */
export function partSizeFor(config: Pick<S3Config, 'maxPartSize'>, sizeHint: number | undefined): number {
  if (sizeHint === undefined || sizeHint <= 0) return config.maxPartSize;
  return Math.max(config.maxPartSize, Math.ceil(sizeHint / S3_MAX_PARTS));
}

function boolSetting(setting: (name: string) => string | undefined, name: string, fallback: boolean): boolean {
  const text = setting(name);
  if (text === undefined) return fallback;
  const value = parseGoBool(text);
  if (value === undefined) {
    throw new WalgError(`setting ${goQuote(name)} must be a boolean: strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`);
  }
  return value;
}

const INT64_LIMIT = 2n ** 63n;

function intSetting(setting: (name: string) => string | undefined, name: string, fallback: number): number {
  const text = setting(name);
  if (text === undefined) return fallback;
  if (!/^[+-]?[0-9]+$/.test(text)) {
    throw new WalgError(`setting ${goQuote(name)} must be an integer: strconv.Atoi: parsing ${goQuote(text)}: invalid syntax`);
  }
  const value = BigInt(text);
  if (value >= INT64_LIMIT || value < -INT64_LIMIT) {
    throw new WalgError(`setting ${goQuote(name)} must be an integer: strconv.Atoi: parsing ${goQuote(text)}: value out of range`);
  }
  return Number(value);
}

function ycSessionToken(text: string | undefined): boolean {
  if (text === undefined) return false;
  const value = parseGoBool(text);
  if (value === undefined) {
    throw new WalgError(
      `create S3 storage: create new AWS session: invalid YC session token: strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax`,
    );
  }
  return value;
}

function versioningMode(text: string | undefined): VersioningMode {
  // WAL-G compares the exact words; anything else behaves like 'disabled' after the first check.
  if (text === undefined) return 'auto';
  if (text === 'enabled') return 'enabled';
  return 'disabled';
}

/**
 * S3_REQUEST_ADDITIONAL_HEADERS: a YAML (or JSON) mapping `{Header: value}`, or a list of one-entry mappings
 * `[{Header: value}, ...]`, as WAL-G accepts. Only the flow and simple block forms are read: that covers every
 * value an environment variable or a config line realistically holds.
 */
export function decodeRequestHeaders(text: string | undefined): [string, string][] {
  if (text === undefined || text.trim() === '') return [];
  const fail = (reason: string): never => {
    throw new WalgError(`create S3 storage: create new AWS session: decode additional headers for S3 requests: ${reason}`);
  };
  const trimmed = text.trim();
  let entries: [string, string][] | undefined;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    entries = parseFlowHeaders(trimmed);
  } else {
    entries = parseBlockHeaders(trimmed);
  }
  if (entries === undefined) fail(`failed to unmarshal YAML headers: cannot read ${goQuote(text)} as a map or a list of maps`);
  for (const [name] of entries!) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) fail(`${goQuote(name)} is not a valid HTTP header name`);
  }
  return entries!;
}

/** `{A: b, "C": "d"}` or `[{A: b}, {C: d}]`; JSON is a subset. */
function parseFlowHeaders(text: string): [string, string][] | undefined {
  let position = 0;
  const skipSpaces = (): void => {
    while (position < text.length && /\s/.test(text[position])) position++;
  };
  const scalar = (stops: string): string | undefined => {
    skipSpaces();
    const quote = text[position];
    if (quote === '"' || quote === "'") {
      let value = '';
      position++;
      while (position < text.length && text[position] !== quote) {
        if (quote === '"' && text[position] === '\\' && position + 1 < text.length) position++;
        value += text[position++];
      }
      if (text[position] !== quote) return undefined;
      position++;
      return value;
    }
    const start = position;
    while (position < text.length && !stops.includes(text[position])) position++;
    return text.slice(start, position).trim();
  };
  const mapping = (): [string, string][] | undefined => {
    skipSpaces();
    if (text[position] !== '{') return undefined;
    position++;
    const entries: [string, string][] = [];
    for (;;) {
      skipSpaces();
      if (text[position] === '}') {
        position++;
        return entries;
      }
      const name = scalar(':}');
      skipSpaces();
      if (name === undefined || text[position] !== ':') return undefined;
      position++;
      const value = scalar(',}');
      if (value === undefined) return undefined;
      entries.push([name, value]);
      skipSpaces();
      if (text[position] === ',') position++;
    }
  };
  let result: [string, string][] | undefined;
  skipSpaces();
  if (text[position] === '[') {
    position++;
    result = [];
    for (;;) {
      skipSpaces();
      if (text[position] === ']') {
        position++;
        break;
      }
      const entries = mapping();
      if (entries === undefined) return undefined;
      result.push(...entries);
      skipSpaces();
      if (text[position] === ',') position++;
    }
  } else {
    result = mapping();
  }
  skipSpaces();
  return position === text.length ? result : undefined;
}

/** `A: b` lines, or `- A: b` list lines. */
function parseBlockHeaders(text: string): [string, string][] | undefined {
  const entries: [string, string][] = [];
  for (const rawLine of text.split('\n')) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('- ')) line = line.slice(2).trim();
    const colonAt = line.indexOf(':');
    if (colonAt <= 0) return undefined;
    entries.push([unquote(line.slice(0, colonAt).trim()), unquote(line.slice(colonAt + 1).trim())]);
  }
  return entries;
}

function unquote(text: string): string {
  if (text.length >= 2 && (text[0] === '"' || text[0] === "'") && text.at(-1) === text[0]) return text.slice(1, -1);
  return text;
}
