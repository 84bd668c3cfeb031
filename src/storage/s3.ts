// The S3 driver (WALG_S3_PREFIX): AWS S3 and compatibles through @aws-sdk/client-s3, honouring WAL-G's S3 settings.
//
// The SDK is loaded on first use (dynamic import), so commands that never touch S3 do not pay for it. Object keys
// are WAL-G's: the prefix path plus the key. Uploads (s3-upload.ts) read the body into parts of S3_MAX_PART_SIZE
// and send up to UPLOAD_CONCURRENCY of them at once: one upload holds at most (UPLOAD_CONCURRENCY + 1) × part
// size bytes (see s3UploadMemoryBound). A multipart upload is only visible under its key once completed, and a
// failed one is aborted, so no reader ever sees partial content.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { Readable } from 'node:stream';
import type {
  _Object as S3Object,
  CommonPrefix,
  GetObjectCommandInput,
  S3Client,
  S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { FinalizeHandler, FinalizeHandlerArguments, RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';
import { WalgError, errorMessage } from '../errors.ts';
import { log, logTimestamp } from '../log/logger.ts';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { pathErrorText } from './go-text.ts';
import { partSizeFor, readS3Config } from './s3-config.ts';
import { MultipartUploadError, uploadStream } from './s3-upload.ts';
import type { S3Config, S3SettingLookup } from './s3-config.ts';

type ClientModule = typeof import('@aws-sdk/client-s3');

/** S3's limit for a single PutObject or CopyObject. */
const SINGLE_REQUEST_LIMIT = 5 * 1024 * 1024 * 1024;
/** Go's DefaultRetryer delays for errors that are not throttling. */
const MIN_RETRY_DELAY_MS = 30;
const MAX_RETRY_DELAY_MS = 300_000;
/** The range reader's own backoff bounds (WAL-G uses the same as the SDK retryer). */
const RANGE_MIN_DELAY_MS = 30;
const RANGE_MAX_DELAY_MS = 300_000;
/** A socket with no traffic for this long is given up (and retried): a hung server must not hang a backup forever. */
const SOCKET_IDLE_TIMEOUT_MS = 5 * 60 * 1000;
const CONNECT_TIMEOUT_MS = 30_000;

let sdkModule: Promise<{ client: ClientModule }> | undefined;

/** Loads the SDK once per process. */
function loadSdk(): Promise<{ client: ClientModule }> {
  sdkModule ??= import('@aws-sdk/client-s3').then((client) => ({ client }));
  return sdkModule;
}

/**
 * Opens the S3 storage for `prefix` (`s3://bucket/path`). Creates the client, resolves credentials (static keys,
 * AWS_ROLE_ARN, or the SDK's default chain) and the region, and lists one key when S3_SKIP_VALIDATION is false.
 */
export async function openS3Storage(prefix: string, getSetting: S3SettingLookup): Promise<S3StorageDriver> {
  const config = readS3Config(prefix, getSetting);
  const sdk = await loadSdk();
  const client = await createClient(sdk.client, config);
  const driver = new S3StorageDriver(client, sdk, config);
  if (!config.skipValidation) {
    try {
      await client.send(new sdk.client.ListObjectsCommand({ Bucket: config.bucket, Prefix: config.rootPath, Delimiter: '/', MaxKeys: 1 }));
    } catch (error) {
      client.destroy();
      throw new WalgError(`bad credentials: ${describeS3Error(error)}`, 1, { cause: error });
    }
  }
  return driver;
}

async function createClient(sdk: ClientModule, config: S3Config): Promise<S3Client> {
  const sessionError = (message: string, cause?: unknown): WalgError =>
    new WalgError(`create S3 storage: create new AWS session: ${message}`, 1, { cause });
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');

  let ca: Buffer | undefined;
  const caFile = config.caCertFile ?? nonEmpty(process.env.AWS_CA_BUNDLE);
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      throw sessionError(pathErrorText('open', caFile, error), error);
    }
  }
  const requestHandler = new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, ...(ca === undefined ? {} : { ca }) }),
    connectionTimeout: CONNECT_TIMEOUT_MS,
    requestTimeout: SOCKET_IDLE_TIMEOUT_MS,
  });

  const endpoint = config.endpoint === undefined ? undefined : withScheme(config.endpoint);
  const base: S3ClientConfig = {
    endpoint,
    forcePathStyle: config.forcePathStyle,
    useDualstackEndpoint: config.dualStack,
    requestHandler,
    maxAttempts: config.maxRetries + 1,
    retryStrategy: new WalgRetryStrategy(config),
    // WAL-G's Go SDK never sent flexible checksums; many S3 compatibles reject or mishandle them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(config.disable100Continue ? { expectContinueHeader: false } : {}),
  };

  try {
    base.credentials = await resolveCredentials(config, base);
  } catch (error) {
    if (error instanceof WalgError) throw error;
    throw sessionError(`configure session: assume role by ARN: ${describeS3Error(error)}`, error);
  }

  let region = config.region;
  if (region === undefined) {
    try {
      region = await detectRegion(sdk, config, base);
    } catch (error) {
      throw sessionError(`configure session: AWS region isn't configured explicitly: detect region: ${errorMessage(error)}`, error);
    }
  }
  const client = new sdk.S3Client({ ...base, region });
  addMiddleware(client, config, endpoint);
  return client;
}

/**
 * WAL-G's credential order: S3_USE_YC_SESSION_TOKEN (metadata credentials) wins; then AWS_ROLE_ARN (AssumeRole,
 * unless IRSA is set up in the environment); then static keys when both are given; else the SDK's default chain
 * (environment, shared files and profiles, web identity, ECS/EC2 metadata), chosen by leaving credentials unset.
 */
async function resolveCredentials(
  config: S3Config,
  base: S3ClientConfig,
): Promise<AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined> {
  if (config.useYcSessionToken) {
    const { fromContainerMetadata, fromInstanceMetadata } = await import('@smithy/credential-provider-imds');
    const onContainer = process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
    return onContainer ? fromContainerMetadata() : fromInstanceMetadata();
  }
  const staticCredentials: AwsCredentialIdentity | undefined =
    config.accessKey !== '' && config.secretKey !== ''
      ? {
          accessKeyId: config.accessKey,
          secretAccessKey: config.secretKey,
          ...(config.sessionToken === '' ? {} : { sessionToken: config.sessionToken }),
        }
      : undefined;
  if (config.roleArn !== '') {
    if (process.env.AWS_WEB_IDENTITY_TOKEN_FILE && process.env.AWS_ROLE_ARN) {
      log.info('Running with IRSA, skipping explicit role assumption');
    } else {
      const provider = await assumeRoleProvider(config, base, staticCredentials);
      await provider(); // fail at startup, like WAL-G, rather than on the first request
      return provider;
    }
  }
  return staticCredentials;
}

/** STS AssumeRole credentials that renew themselves before they expire (WAL-G's never renew). */
async function assumeRoleProvider(
  config: S3Config,
  base: S3ClientConfig,
  sourceCredentials: AwsCredentialIdentity | undefined,
): Promise<AwsCredentialIdentityProvider> {
  const { STSClient, AssumeRoleCommand } = await import('@aws-sdk/nested-clients/sts');
  const sts = new STSClient({
    region: config.region ?? nonEmpty(process.env.AWS_REGION) ?? 'us-east-1',
    requestHandler: base.requestHandler,
    ...(sourceCredentials === undefined ? {} : { credentials: sourceCredentials }),
  });
  let cached: AwsCredentialIdentity | undefined;
  return async () => {
    const renewAt = (cached?.expiration?.getTime() ?? 0) - 5 * 60 * 1000;
    if (cached !== undefined && Date.now() < renewAt) return cached;
    const answer = await sts.send(
      new AssumeRoleCommand({ RoleArn: config.roleArn, RoleSessionName: config.roleSessionName || 'wal-g' }),
    );
    const credentials = answer.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
      throw new Error(`STS AssumeRole for ${config.roleArn} returned no credentials`);
    }
    cached = {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      expiration: credentials.Expiration,
    };
    return cached;
  };
}

/** WAL-G's rule: ask AWS for the bucket's region; any other endpoint is an S3 compatible that lives in us-east-1. */
async function detectRegion(sdk: ClientModule, config: S3Config, base: S3ClientConfig): Promise<string> {
  const endpoint = config.endpoint;
  if (endpoint !== undefined && !endpoint.endsWith('.amazonaws.com')) return 'us-east-1';
  const probe = new sdk.S3Client({ ...base, region: 'us-east-1' });
  try {
    const answer = await probe.send(new sdk.GetBucketLocationCommand({ Bucket: config.bucket }));
    const location = answer.LocationConstraint as string | undefined;
    if (location === undefined || location === '') return 'us-east-1';
    // The oldest buckets answer with the legacy name of eu-west-1.
    return location === 'EU' ? 'eu-west-1' : location;
  } catch (error) {
    throw new Error(`detect region by bucket: ${describeS3Error(error)}`, { cause: error });
  } finally {
    probe.destroy();
  }
}

interface MiddlewareRequest {
  method: string;
  hostname: string;
  port?: number;
  protocol: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** Extra headers, Content-MD5 for DeleteObjects, endpoint source, Yandex token copy and request logging. */
function addMiddleware(client: S3Client, config: S3Config, endpoint: string | undefined): void {
  const stack = client.middlewareStack;
  if (config.requestHeaders.length > 0) {
    stack.add(
      (next) => async (args) => {
        const request = args.request as MiddlewareRequest;
        for (const [name, value] of config.requestHeaders) request.headers[name] = value;
        return next(args);
      },
      { step: 'build', name: 'walgAdditionalHeaders' },
    );
  }
  // Newer SDKs send only a CRC32 with DeleteObjects; S3 compatibles (Swift's s3api, older MinIO and Ceph) still
  // require the Content-MD5 that S3 itself used to require.
  stack.add(
    (next, context) => async (args) => {
      const request = args.request as MiddlewareRequest;
      if (context.commandName === 'DeleteObjectsCommand' && typeof request.body === 'string') {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'walgDeleteObjectsContentMd5' },
  );
  if (config.endpointSource !== undefined || config.useYcSessionToken) {
    stack.addRelativeTo(
      ((next: FinalizeHandler<object, object>) => async (args: FinalizeHandlerArguments<object>) => {
        const request = args.request as MiddlewareRequest;
        if (config.useYcSessionToken) {
          const token = request.headers['x-amz-security-token'];
          if (token !== undefined) request.headers['X-YaCloud-SubjectToken'] = token;
        }
        if (config.endpointSource !== undefined) {
          const host = await hostFromEndpointSource(config.endpointSource);
          if (host !== undefined) {
            log.debug(`using S3 endpoint ${host}:${config.endpointPort}`);
            // Signed for the configured endpoint's Host; sent over plain http to the host the source names.
            request.headers.host ??= new URL(endpoint ?? `https://${request.hostname}`).host;
            request.hostname = host;
            request.port = Number(config.endpointPort);
            request.protocol = 'http:';
          } else {
            log.debug(`using S3 endpoint ${endpoint ?? request.hostname}`);
          }
        }
        return next(args);
      }) as never,
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'walgAfterSigning' },
    );
  }
  stack.add(
    (next, context) => async (args) => {
      const request = args.request as MiddlewareRequest;
      try {
        const result = await next(args);
        const status = (result.response as { statusCode?: number }).statusCode;
        log.debug(`HTTP response code: ${status}`);
        if (config.sdkDebugLog) sdkDebugLine(`${context.commandName}: ${request.method} ${request.path}: HTTP ${status}`);
        return result;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (config.sdkDebugLog) {
          sdkDebugLine(`${context.commandName}: ${request.method} ${request.path}: ${status === undefined ? '' : `HTTP ${status} `}${errorMessage(error)}`);
        }
        throw error;
      }
    },
    { step: 'deserialize', name: 'walgRequestLog' },
  );
}

/** S3_LOG_LEVEL=DEVEL output: printed whatever WALG_LOG_LEVEL says, like the Go SDK's own debug log. No headers. */
function sdkDebugLine(message: string): void {
  process.stderr.write(`DEBUG: ${logTimestamp()} S3 ${message}\n`);
}

/**
 * Asks S3_ENDPOINT_SOURCE which host to send a request to, on a fresh connection (WAL-G disables keep-alive here).
 * node:http rather than fetch: Node's fetch parses HTTP with WebAssembly, which --jitless turns off.
 */
function hostFromEndpointSource(source: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const failed = (error: unknown) => {
      log.error(`Endpoint source error: ${errorMessage(error)} `);
      resolve(undefined);
    };
    let url: URL;
    try {
      url = new URL(source);
    } catch (error) {
      failed(error);
      return;
    }
    const get = url.protocol === 'https:' ? httpsGet : url.protocol === 'http:' ? httpGet : undefined;
    if (get === undefined) {
      failed(new Error(`unsupported protocol scheme "${url.protocol.slice(0, -1)}"`));
      return;
    }
    get(url, { agent: false, headers: { connection: 'close' } }, (response) => {
      if (response.statusCode !== 200) {
        log.error(`Endpoint source bad status code: ${response.statusCode} `);
        response.resume();
        resolve(undefined);
        return;
      }
      const pieces: Buffer[] = [];
      response.on('data', (piece: Buffer) => pieces.push(piece));
      response.on('end', () => resolve(Buffer.concat(pieces).toString('utf8')));
      response.on('error', (error) => {
        log.error(`Endpoint source reading error: ${errorMessage(error)}`);
        resolve(undefined);
      });
    }).on('error', failed);
  });
}

/**
 * Go's DefaultRetryer: up to S3_MAX_RETRIES retries of throttling, transient (connection reset/refused, timeouts)
 * and server errors, exponential backoff with jitter; throttling waits between the S3_*_THROTTLING_RETRY_DELAY
 * bounds. No retry quota, unlike the SDK's standard strategy.
 */
export class WalgRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'standard';
  private readonly maxRetries: number;
  private readonly minThrottleMs: number;
  private readonly maxThrottleMs: number;

  constructor(config: Pick<S3Config, 'maxRetries' | 'minThrottlingRetryDelayMs' | 'maxThrottlingRetryDelayMs'>) {
    this.maxRetries = config.maxRetries;
    this.minThrottleMs = config.minThrottlingRetryDelayMs;
    this.maxThrottleMs = config.maxThrottlingRetryDelayMs;
  }

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return retryToken(0);
  }

  async refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    const count = token.getRetryCount();
    const status = (errorInfo.error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
    const retryable =
      errorInfo.errorType === 'THROTTLING' ||
      errorInfo.errorType === 'TRANSIENT' ||
      (errorInfo.errorType === 'SERVER_ERROR' && status !== 501);
    if (!retryable || count >= this.maxRetries) throw new Error('no retry left');
    const throttled = errorInfo.errorType === 'THROTTLING';
    let delay = backoffDelay(
      count,
      throttled ? this.minThrottleMs : MIN_RETRY_DELAY_MS,
      throttled ? this.maxThrottleMs : MAX_RETRY_DELAY_MS,
    );
    if (errorInfo.retryAfterHint instanceof Date) delay = Math.max(delay, errorInfo.retryAfterHint.getTime() - Date.now());
    return retryToken(count + 1, delay);
  }

  recordSuccess(): void {
    /* no quota to refill */
  }
}

function retryToken(count: number, delay = 0): RetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => delay };
}

/** 2^retry × a jittered minimum, capped at a jittered half maximum, as Go's retryers compute it. */
export function backoffDelay(retryCount: number, minimumMs: number, maximumMs: number): number {
  const jitter = (value: number): number => value + Math.random() * value;
  const delay = 2 ** Math.min(retryCount, 40) * jitter(minimumMs);
  return delay > maximumMs ? jitter(maximumMs / 2) : delay;
}

export class S3StorageDriver implements StorageDriver {
  readonly kind = 's3';
  readonly client: S3Client;
  readonly config: S3Config;
  private readonly sdk: { client: ClientModule };
  private versioningEnabled: boolean | undefined;

  constructor(client: S3Client, sdk: { client: ClientModule }, config: S3Config) {
    this.client = client;
    this.sdk = sdk;
    this.config = config;
    if (config.versioning !== 'auto') this.versioningEnabled = config.versioning === 'enabled';
  }

  /** The S3 object key for a driver key: the prefix path plus the key, exactly as WAL-G builds it. */
  objectKey(key: string): string {
    return this.config.rootPath + key;
  }

  private get bucket(): string {
    return this.config.bucket;
  }

  /** SSE-C parameters for requests that read or write object data. */
  private customerKeyParameters(): { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string } {
    if (this.config.sse === '' || this.config.sseCustomerKey === '') return {};
    return {
      SSECustomerAlgorithm: this.config.sse,
      SSECustomerKey: this.config.sseCustomerKey,
      SSECustomerKeyMD5: createHash('md5').update(this.config.sseCustomerKey).digest('base64'),
    };
  }

  /** Server-side encryption of written objects: SSE-C, or SSE-S3/SSE-KMS with the optional KMS key id. */
  private encryptionParameters(): Record<string, string> {
    const { sse, sseCustomerKey, sseKmsKeyId } = this.config;
    if (sse === '') return {};
    const parameters: Record<string, string> =
      sseCustomerKey !== '' ? { ...this.customerKeyParameters() } : { ServerSideEncryption: sse };
    if (sseKmsKeyId !== '') parameters.SSEKMSKeyId = sseKmsKeyId;
    return parameters;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const listPrefix = this.objectKey(prefix);
    const delimiter = options.recursive ? undefined : '/';
    const cut = this.config.rootPath.length;
    let continuation: string | undefined;
    for (;;) {
      let page: { contents: S3Object[]; prefixes: CommonPrefix[]; next: string | undefined };
      try {
        page = await this.listPage(listPrefix, delimiter, continuation);
      } catch (error) {
        // DigitalOcean Spaces answers NoSuchKey for a folder that does not exist yet (WAL-G ignores it too).
        if (isNotFound(error)) return;
        throw new WalgError(`failed to list s3 folder: '${listPrefix}': ${describeS3Error(error)}`, 1, { cause: error });
      }
      const entries: ListEntry[] = [];
      for (const object of page.contents) {
        const key = object.Key;
        // Some storages list the folder itself as an object; it is no object of ours.
        if (key === undefined || key === listPrefix) continue;
        entries.push({
          kind: 'object',
          key: key.slice(cut),
          size: Number(object.Size ?? 0),
          modified: wholeSeconds(object.LastModified),
        });
      }
      for (const common of page.prefixes) {
        if (common.Prefix !== undefined) entries.push({ kind: 'folder', key: common.Prefix.slice(cut) });
      }
      entries.sort((a, b) => compareKeys(a.key, b.key));
      yield* entries;
      if (page.next === undefined) return;
      continuation = page.next;
    }
  }

  private async listPage(
    prefix: string,
    delimiter: string | undefined,
    continuation: string | undefined,
  ): Promise<{ contents: S3Object[]; prefixes: CommonPrefix[]; next: string | undefined }> {
    const { ListObjectsCommand, ListObjectsV2Command } = this.sdk.client;
    if (this.config.useListObjectsV1) {
      const answer = await this.client.send(
        new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, Marker: continuation }),
      );
      const contents = answer.Contents ?? [];
      const prefixes = answer.CommonPrefixes ?? [];
      if (!answer.IsTruncated) return { contents, prefixes, next: undefined };
      // NextMarker comes only with a delimiter; otherwise the last key is the marker.
      let next = answer.NextMarker;
      if (!next) {
        const lastKey = contents.at(-1)?.Key ?? '';
        const lastPrefix = prefixes.at(-1)?.Prefix ?? '';
        next = compareKeys(lastKey, lastPrefix) >= 0 ? lastKey : lastPrefix;
      }
      return { contents, prefixes, next: next || undefined };
    }
    const answer = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: continuation }),
    );
    return {
      contents: answer.Contents ?? [],
      prefixes: answer.CommonPrefixes ?? [],
      next: answer.IsTruncated ? answer.NextContinuationToken : undefined,
    };
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const objectKey = this.objectKey(key);
    try {
      const answer = await this.client.send(
        new this.sdk.client.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey, ...this.customerKeyParameters() }),
      );
      return { kind: 'object', key, size: Number(answer.ContentLength ?? 0), modified: wholeSeconds(answer.LastModified) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new WalgError(`failed to check s3 object '${objectKey}' existence: ${describeS3Error(error)}`, 1, { cause: error });
    }
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const objectKey = this.objectKey(key);
    if (length === 0) {
      if ((await this.stat(key)) === undefined) throw new NotFoundError(key, objectKey);
      return emptyStream();
    }
    const end = length === undefined ? undefined : offset + length - 1;
    let body: Readable | undefined;
    try {
      body = await this.openBody(objectKey, offset, end);
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(key, objectKey);
      throw new WalgError(`failed to read object: '${objectKey}' from S3: ${describeS3Error(error)}`, 1, { cause: error });
    }
    if (body === undefined) return emptyStream();
    if (!this.config.rangeBatchEnabled) return body;
    return Readable.from(this.resumingChunks(objectKey, body, offset, end), { objectMode: false });
  }

  /** One GET from `offset` to `end` (inclusive); undefined when the range starts past the end of the object. */
  private async openBody(objectKey: string, offset: number, end: number | undefined): Promise<Readable | undefined> {
    const input: GetObjectCommandInput = { Bucket: this.bucket, Key: objectKey, ...this.customerKeyParameters() };
    if (offset > 0 || end !== undefined) input.Range = `bytes=${offset}-${end ?? ''}`;
    try {
      const answer = await this.client.send(new this.sdk.client.GetObjectCommand(input));
      return answer.Body as Readable;
    } catch (error) {
      if (httpStatus(error) === 416) return undefined;
      throw error;
    }
  }

  /**
   * S3_RANGE_BATCH_ENABLED: a download that breaks midway is resumed with a Range request from the first byte
   * not yet delivered, up to S3_RANGE_MAX_RETRIES reconnects in a row, like WAL-G's RangeReader.
   */
  private async *resumingChunks(objectKey: string, first: Readable, offset: number, end: number | undefined): AsyncGenerator<Buffer> {
    let body: Readable | undefined = first;
    let cursor = offset;
    for (;;) {
      try {
        for await (const chunk of body!) {
          cursor += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        return;
      } catch (readError) {
        body!.destroy();
        log.debug(`S3 range reader ${objectKey}: read at byte ${cursor} failed: ${errorMessage(readError)}`);
        body = undefined;
        for (let failed = 1; body === undefined; failed++) {
          if (end !== undefined && cursor > end) return;
          try {
            body = await this.openBody(objectKey, cursor, end);
            if (body === undefined) return; // nothing left past the cursor
          } catch (error) {
            log.debug(`S3 range reader ${objectKey}: reconnect ${failed}/${this.config.rangeMaxRetries} failed: ${errorMessage(error)}`);
            if (failed >= this.config.rangeMaxRetries) {
              throw new WalgError(
                `failed to read object: '${objectKey}' from S3: reading broke at byte ${cursor} and ${failed} reconnects ` +
                  `with a Range request failed (S3_RANGE_MAX_RETRIES=${this.config.rangeMaxRetries}): ${describeS3Error(error)}`,
                1,
                { cause: error },
              );
            }
            await sleep(backoffDelay(failed, RANGE_MIN_DELAY_MS, RANGE_MAX_DELAY_MS));
          }
        }
      }
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const objectKey = this.objectKey(key);
    if (options.overwrite === false && (await this.stat(key)) !== undefined) {
      body.destroy();
      throw new ObjectExistsError(key, objectKey);
    }
    let bodyError: unknown;
    const onBodyError = (error: unknown): void => {
      bodyError ??= error;
    };
    body.once('error', onBodyError);
    const params: Record<string, unknown> = {
      Bucket: this.bucket,
      Key: objectKey,
      StorageClass: this.config.storageClass,
      ...this.encryptionParameters(),
    };
    if (this.config.retentionPeriodSeconds !== -1) {
      params.ObjectLockMode = this.config.retentionMode;
      params.ObjectLockRetainUntilDate = new Date(Date.now() + this.config.retentionPeriodSeconds * 1000);
    }
    try {
      await uploadStream({
        client: this.client,
        sdk: this.sdk.client,
        params,
        partParams: this.customerKeyParameters(),
        body,
        partSize: partSizeFor(this.config, options.sizeHint),
        concurrency: this.config.uploadConcurrency,
      });
    } catch (caught) {
      body.destroy();
      const error = caught instanceof MultipartUploadError ? caught.cause : caught;
      if (caught instanceof MultipartUploadError && caught.uploadId !== undefined) {
        await this.abortMultipart(caught.uploadId, objectKey);
      }
      if (bodyError !== undefined && error === bodyError) throw bodyError;
      const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts;
      const retries =
        attempts !== undefined && attempts > 1 ? ` (gave up after ${attempts} attempts; S3_MAX_RETRIES=${this.config.maxRetries})` : '';
      throw new WalgError(`failed to upload '${objectKey}' to bucket '${this.bucket}': ${describeS3Error(error)}${retries}`, 1, {
        cause: error,
      });
    } finally {
      body.off('error', onBodyError);
    }
  }

  /** Best effort: the parts of a failed multipart upload cost money until aborted; a dead server keeps them. */
  private async abortMultipart(uploadId: string, objectKey: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.client.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }));
    } catch (error) {
      log.warn(
        `could not abort the failed multipart upload of '${objectKey}' (upload id ${uploadId}): ${describeS3Error(error)}; ` +
          'its parts stay in the bucket until a lifecycle rule removes incomplete uploads',
      );
    }
  }

  /** DeleteObjects in batches of S3_DELETE_BATCH_SIZE; with versioning, every version of each key goes. */
  async deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const objects: { Key: string; VersionId?: string }[] = [];
    if (await this.isVersioningEnabled()) {
      for (const key of keys) objects.push(...(await this.versionsOf(this.objectKey(key))));
    } else {
      for (const key of keys) objects.push({ Key: this.objectKey(key) });
    }
    const batchSize = this.config.deleteBatchSize > 0 ? this.config.deleteBatchSize : objects.length;
    for (let start = 0; start < objects.length; start += batchSize) {
      const batch = objects.slice(start, start + batchSize);
      let answer;
      try {
        answer = await this.client.send(
          new this.sdk.client.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }),
        );
      } catch (error) {
        throw new WalgError(
          `failed to delete s3 object: '${describeKeys(batch.map((object) => object.Key))}': ${describeS3Error(error)}`,
          1,
          { cause: error },
        );
      }
      const failures = (answer.Errors ?? []).filter((failure) => failure.Code !== 'NoSuchKey');
      if (failures.length > 0) {
        const first = failures[0];
        throw new WalgError(
          `failed to delete s3 object: ${failures.length} of ${batch.length} objects were not deleted; ` +
            `first: '${first.Key}': ${first.Code}: ${first.Message}`,
        );
      }
    }
  }

  private async isVersioningEnabled(): Promise<boolean> {
    if (this.versioningEnabled !== undefined) return this.versioningEnabled;
    try {
      const answer = await this.client.send(new this.sdk.client.GetBucketVersioningCommand({ Bucket: this.bucket }));
      this.versioningEnabled = answer.Status === 'Enabled';
    } catch {
      // WAL-G treats an unanswerable question as "no versioning", and asks again next time.
      return false;
    }
    return this.versioningEnabled;
  }

  /** Every version and delete marker of exactly this key (WAL-G matched by prefix, catching longer keys too). */
  private async versionsOf(objectKey: string): Promise<{ Key: string; VersionId?: string }[]> {
    const found: { Key: string; VersionId?: string }[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      let answer;
      try {
        answer = await this.client.send(
          new this.sdk.client.ListObjectVersionsCommand({
            Bucket: this.bucket,
            Prefix: objectKey,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
        );
      } catch (error) {
        log.error(`failed to list versions: ${describeS3Error(error)}`);
        return found;
      }
      for (const entry of [...(answer.Versions ?? []), ...(answer.DeleteMarkers ?? [])]) {
        if (entry.Key === objectKey) found.push({ Key: objectKey, VersionId: entry.VersionId });
      }
      if (!answer.IsTruncated) return found;
      keyMarker = answer.NextKeyMarker;
      versionMarker = answer.NextVersionIdMarker;
    }
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    const source = await this.stat(sourceKey);
    if (source === undefined) throw new NotFoundError(sourceKey, this.objectKey(sourceKey));
    const from = this.objectKey(sourceKey);
    const to = this.objectKey(destinationKey);
    if (source.size > SINGLE_REQUEST_LIMIT) {
      // CopyObject stops at 5 GiB; stream it through instead of orchestrating UploadPartCopy.
      const body = await this.get(sourceKey);
      await this.put(destinationKey, body, { sizeHint: source.size });
      return;
    }
    const copySourceCustomerKey: Record<string, string> = {};
    const customer = this.customerKeyParameters();
    if (customer.SSECustomerKey !== undefined) {
      copySourceCustomerKey.CopySourceSSECustomerAlgorithm = customer.SSECustomerAlgorithm!;
      copySourceCustomerKey.CopySourceSSECustomerKey = customer.SSECustomerKey;
      copySourceCustomerKey.CopySourceSSECustomerKeyMD5 = customer.SSECustomerKeyMD5!;
    }
    try {
      await this.client.send(
        new this.sdk.client.CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: `${encodeURIComponent(this.bucket)}/${from.split('/').map(encodeURIComponent).join('/')}`,
          StorageClass: this.config.storageClass,
          ...this.encryptionParameters(),
          ...copySourceCustomerKey,
        } as never),
      );
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(sourceKey, from);
      throw new WalgError(`failed to copy s3 object '${from}' to '${to}': ${describeS3Error(error)}`, 1, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The Go SDK accepts `host:port` endpoints and assumes https; the JS SDK needs a URL. */
function withScheme(endpoint: string): string {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`;
}

/**
 * S3 listings carry milliseconds but HEAD's Last-Modified has whole seconds (some servers, like Swift, round it
 * up): both are rounded up to whole seconds so a listing and a stat of the same object agree.
 */
function wholeSeconds(date: Date | undefined): Date {
  if (date === undefined) return new Date(0);
  return new Date(Math.ceil(date.getTime() / 1000) * 1000);
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  const code = (error as { Code?: string } | undefined)?.Code;
  return name === 'NotFound' || name === 'NoSuchKey' || code === 'NoSuchKey' || (httpStatus(error) === 404 && name !== 'NoSuchBucket');
}

/** An SDK error in one line: `Code: message (status code: N, request id: R)`, or the network error's own text. */
export function describeS3Error(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const metadata = (error as { $metadata?: { httpStatusCode?: number; requestId?: string } }).$metadata;
  const code = (error as { code?: string }).code;
  if (metadata?.httpStatusCode !== undefined) {
    const message = error.message && error.message !== 'UnknownError' ? error.message : 'no error message in the response';
    const requestId = metadata.requestId ? `, request id: ${metadata.requestId}` : '';
    return `${error.name}: ${message} (status code: ${metadata.httpStatusCode}${requestId})`;
  }
  if (code !== undefined && !error.message.includes(code)) return `${error.message} (${code})`;
  return error.message;
}

function describeKeys(keys: string[]): string {
  const shown = keys.slice(0, 5).join(', ');
  return keys.length > 5 ? `${shown}, ... (${keys.length} keys)` : shown;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
