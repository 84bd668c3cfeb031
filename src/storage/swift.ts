// The OpenStack Swift driver (WALG_SWIFT_PREFIX swift://container/path) over plain HTTP: no SDK.
//
// Settings are WAL-G's: OS_USERNAME, OS_PASSWORD, OS_AUTH_URL, OS_TENANT_NAME, OS_REGION_NAME (through the
// setting lookup), plus every other variable the Go library WAL-G uses reads from the environment (OS_PROJECT_NAME,
// OS_USER_DOMAIN_NAME, OS_STORAGE_URL + OS_AUTH_TOKEN, ST_AUTH_VERSION, ...). Auth v1 (tempauth/swauth), v2 and v3
// (keystone) are picked from the URL as the Go library does. Puts stream with chunked transfer encoding; Swift
// stores the object only when the request completes, so readers never see partial content. An object larger
// than the cluster's max_file_size (5 GiB by default) needs a known size (sizeHint): it is then written as a
// Static Large Object whose segments go to `<container>_segments`. Without a size hint such a put fails with a
// clear error. Deleting through this driver removes SLO segments too; other tools deleting or overwriting a
// manifest leave its segments behind.

import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { parseStoragePrefix } from './prefix.ts';

export type SwiftSettingLookup = (name: string) => string | undefined;

/** Swift's default max_file_size (5 GiB + 2 bytes), used when /info does not say. */
const DEFAULT_MAX_FILE_SIZE = 5 * 1024 * 1024 * 1024 + 2;
/** Listing page size; Swift's own default and maximum. */
const LIST_LIMIT = 10_000;
const DELETE_CONCURRENCY = 8;
const DEFAULT_RETRIES = 3;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_DATA_TIMEOUT_MS = 60_000;

/** Everything the driver needs to authenticate; read once at open. */
export interface SwiftAuthSettings {
  authUrl: string;
  userName: string;
  userId: string;
  apiKey: string;
  tenant: string;
  tenantId: string;
  domain: string;
  domainId: string;
  tenantDomain: string;
  tenantDomainId: string;
  trustId: string;
  region: string;
  endpointType: string;
  applicationCredentialId: string;
  applicationCredentialName: string;
  applicationCredentialSecret: string;
  authVersion: number;
  storageUrl: string;
  authToken: string;
  retries: number;
  connectTimeoutMs: number;
  dataTimeoutMs: number;
}

export interface SwiftDriverOptions {
  /** Objects whose size hint exceeds this become SLOs; default: the cluster's max_file_size. Tests lower it. */
  largeObjectThreshold?: number;
  /** Segment size of an SLO; default: the threshold. */
  segmentSize?: number;
}

/** Reads WAL-G's five settings through the lookup and the Go library's other variables from the environment. */
export function readSwiftAuthSettings(getSetting: SwiftSettingLookup, env: NodeJS.ProcessEnv = process.env): SwiftAuthSettings {
  const value = (name: string): string => {
    const setting = getSetting(name);
    if (setting !== undefined && setting !== '') return setting;
    return env[name] ?? '';
  };
  const first = (...names: string[]): string => names.map(value).find((text) => text !== '') ?? '';
  const duration = (name: string, fallback: number): number => {
    const text = value(name);
    if (text === '') return fallback;
    const milliseconds = parseGoDurationMs(text);
    if (milliseconds === undefined) throw new WalgError(`create Swift storage: apply env variables: failed to read env var ${JSON.stringify(name)}: invalid duration ${JSON.stringify(text)}`);
    return milliseconds;
  };
  const integer = (name: string, fallback: number): number => {
    const text = value(name);
    if (text === '') return fallback;
    if (!/^-?\d+$/.test(text)) throw new WalgError(`create Swift storage: apply env variables: failed to read env var ${JSON.stringify(name)}: invalid number ${JSON.stringify(text)}`);
    return Number(text);
  };
  return {
    authUrl: first('OS_AUTH_URL', 'ST_AUTH'),
    userName: first('OS_USERNAME', 'ST_USER'),
    userId: value('OS_USER_ID'),
    apiKey: first('OS_PASSWORD', 'ST_KEY'),
    tenant: first('OS_TENANT_NAME', 'OS_PROJECT_NAME'),
    tenantId: first('OS_TENANT_ID', 'OS_PROJECT_ID'),
    domain: value('OS_USER_DOMAIN_NAME'),
    domainId: value('OS_USER_DOMAIN_ID'),
    tenantDomain: value('OS_PROJECT_DOMAIN_NAME'),
    tenantDomainId: value('OS_PROJECT_DOMAIN_ID'),
    trustId: value('OS_TRUST_ID'),
    region: value('OS_REGION_NAME'),
    endpointType: value('OS_ENDPOINT_TYPE') || (value('GOSWIFT_INTERNAL') === 'true' ? 'internal' : 'public'),
    applicationCredentialId: value('OS_APPLICATION_CREDENTIAL_ID'),
    applicationCredentialName: value('OS_APPLICATION_CREDENTIAL_NAME'),
    applicationCredentialSecret: value('OS_APPLICATION_CREDENTIAL_SECRET'),
    authVersion: integer('ST_AUTH_VERSION', 0),
    storageUrl: value('OS_STORAGE_URL'),
    authToken: value('OS_AUTH_TOKEN'),
    retries: integer('GOSWIFT_RETRIES', DEFAULT_RETRIES) || DEFAULT_RETRIES,
    connectTimeoutMs: duration('GOSWIFT_CONNECT_TIMEOUT', DEFAULT_CONNECT_TIMEOUT_MS),
    dataTimeoutMs: duration('GOSWIFT_TIMEOUT', DEFAULT_DATA_TIMEOUT_MS),
  };
}

/**
 * Opens the Swift storage: authenticates, checks that the container exists and reads the cluster's /info.
 * Errors read like WAL-G's (`create Swift storage: authenticate: ...`).
 */
export async function openSwiftStorage(
  prefix: string,
  getSetting: SwiftSettingLookup,
  options: SwiftDriverOptions = {},
): Promise<SwiftStorageDriver> {
  const { bucket: container, path } = parseStoragePrefix('swift', prefix);
  const settings = readSwiftAuthSettings(getSetting);
  const client = new SwiftClient(settings);
  try {
    await client.authenticate();
  } catch (error) {
    throw new WalgError(`create Swift storage: authenticate: ${errorMessage(error)}`, 1, { cause: error });
  }
  const head = await client.call({ method: 'HEAD', path: [container] }).catch((error: unknown) => {
    throw new WalgError(`create Swift storage: get container by name: ${errorMessage(error)}`, 1, { cause: error });
  });
  head.resume();
  if (head.statusCode === 404) throw new WalgError('create Swift storage: get container by name: Container Not Found');
  if (!isSuccess(head.statusCode)) {
    throw new WalgError(`create Swift storage: get container by name: ${httpErrorText(head.statusCode)}`);
  }
  const info = await client.info();
  return new SwiftStorageDriver(client, container, path, info, options);
}

/** What /info told about the cluster (all optional: /info may be disabled). */
export interface SwiftClusterInfo {
  maxFileSize: number;
  staticLargeObjects: boolean;
  bulkDelete: boolean;
  maxDeletesPerRequest: number;
}

interface CallOptions {
  method: string;
  /** Path parts after the storage URL: container, then object name (each URL-encoded here). */
  path: string[];
  query?: Record<string, string>;
  headers?: OutgoingHttpHeaders;
  /** A body sent whole (replayable, so the call may be retried). */
  body?: Buffer | string;
}

/** Authentication and raw requests, with re-authentication on 401 and retries of idempotent calls. */
export class SwiftClient {
  readonly settings: SwiftAuthSettings;
  storageUrl = '';
  private token = '';
  private expires: number | undefined;
  private authenticating: Promise<void> | undefined;

  constructor(settings: SwiftAuthSettings) {
    this.settings = settings;
  }

  async authenticate(): Promise<void> {
    this.authenticating ??= this.authenticateOnce().finally(() => {
      this.authenticating = undefined;
    });
    return this.authenticating;
  }

  private async authenticateOnce(): Promise<void> {
    const settings = this.settings;
    if (settings.storageUrl !== '' && settings.authToken !== '' && this.token === '') {
      this.storageUrl = settings.storageUrl;
      this.token = settings.authToken;
      return;
    }
    if (settings.authUrl === '') throw new Error('Bad Request: OS_AUTH_URL is not set (or ST_AUTH)');
    const version = settings.authVersion !== 0 ? settings.authVersion : detectAuthVersion(settings.authUrl);
    const result = version === 3 ? await authenticateV3(settings) : version === 2 ? await authenticateV2(settings) : await authenticateV1(settings);
    this.storageUrl = result.storageUrl.replace(/\/+$/, '');
    this.token = result.token;
    this.expires = result.expires;
  }

  private needsAuthentication(): boolean {
    if (this.token === '' || this.storageUrl === '') return true;
    return this.expires !== undefined && this.expires - Date.now() < 60_000;
  }

  url(path: string[], query?: Record<string, string>): URL {
    const url = new URL(this.storageUrl);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path.map(encodePathPart).join('/')}`;
    if (query !== undefined) for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url;
  }

  /** A request with a whole (or no) body; 401 re-authenticates once, connection errors are retried. */
  async call(options: CallOptions): Promise<IncomingMessage> {
    let reauthenticated = false;
    for (let attempt = 0; ; attempt++) {
      if (this.needsAuthentication()) await this.authenticate();
      let response: IncomingMessage;
      try {
        response = await send(this.url(options.path, options.query), {
          method: options.method,
          headers: { ...options.headers, 'X-Auth-Token': this.token },
          body: options.body,
          connectTimeoutMs: this.settings.connectTimeoutMs,
          dataTimeoutMs: this.settings.dataTimeoutMs,
        });
      } catch (error) {
        if (attempt < this.settings.retries) {
          log.debug(`Swift ${options.method} ${options.path.join('/')}: ${errorMessage(error)}; retrying`);
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw error;
      }
      if (response.statusCode === 401 && !reauthenticated) {
        response.resume();
        reauthenticated = true;
        this.token = '';
        await this.authenticate();
        continue;
      }
      return response;
    }
  }

  /** A streaming PUT: the body is sent as it comes (chunked); not retried, since a stream cannot be replayed. */
  async putStream(path: string[], body: AsyncIterable<Buffer>, headers: OutgoingHttpHeaders, query?: Record<string, string>): Promise<IncomingMessage> {
    if (this.needsAuthentication()) await this.authenticate();
    return await send(this.url(path, query), {
      method: 'PUT',
      headers: { ...headers, 'X-Auth-Token': this.token, 'Transfer-Encoding': 'chunked' },
      stream: body,
      connectTimeoutMs: this.settings.connectTimeoutMs,
      dataTimeoutMs: this.settings.dataTimeoutMs,
    });
  }

  /** /info sits at the root of the proxy, beside /v1. */
  async info(): Promise<SwiftClusterInfo> {
    const fallback: SwiftClusterInfo = { maxFileSize: DEFAULT_MAX_FILE_SIZE, staticLargeObjects: false, bulkDelete: false, maxDeletesPerRequest: 0 };
    try {
      const url = new URL(this.storageUrl);
      url.pathname = url.pathname.replace(/\/[^/]*\/[^/]*\/?$/, '/info');
      const response = await send(url, { method: 'GET', headers: {}, connectTimeoutMs: this.settings.connectTimeoutMs, dataTimeoutMs: this.settings.dataTimeoutMs });
      const text = await readText(response);
      if (response.statusCode !== 200) return fallback;
      const info = JSON.parse(text) as Record<string, Record<string, unknown> | undefined>;
      return {
        maxFileSize: Number(info.swift?.max_file_size ?? DEFAULT_MAX_FILE_SIZE),
        staticLargeObjects: info.slo !== undefined,
        bulkDelete: info.bulk_delete !== undefined,
        maxDeletesPerRequest: Number(info.bulk_delete?.max_deletes_per_request ?? 10_000),
      };
    } catch (error) {
      log.debug(`Swift /info unavailable: ${errorMessage(error)}`);
      return fallback;
    }
  }
}

export class SwiftStorageDriver implements StorageDriver {
  readonly kind = 'swift';
  readonly client: SwiftClient;
  readonly container: string;
  /** Folder inside the container: '' or ending with '/'. */
  readonly rootPath: string;
  readonly info: SwiftClusterInfo;
  private readonly largeObjectThreshold: number;
  private readonly segmentSize: number;
  private segmentsContainerKnown: boolean | undefined;

  constructor(client: SwiftClient, container: string, rootPath: string, info: SwiftClusterInfo, options: SwiftDriverOptions = {}) {
    this.client = client;
    this.container = container;
    this.rootPath = rootPath;
    this.info = info;
    this.largeObjectThreshold = options.largeObjectThreshold ?? info.maxFileSize;
    this.segmentSize = options.segmentSize ?? Math.min(this.largeObjectThreshold, info.maxFileSize);
  }

  get segmentsContainer(): string {
    return `${this.container}_segments`;
  }

  objectName(key: string): string {
    return this.rootPath + key;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const listPrefix = this.objectName(prefix);
    const cut = this.rootPath.length;
    let marker = '';
    for (;;) {
      const query: Record<string, string> = { format: 'json', prefix: listPrefix, limit: String(LIST_LIMIT) };
      if (!options.recursive) query.delimiter = '/';
      if (marker !== '') query.marker = marker;
      let page: { name?: string; subdir?: string; bytes?: number; last_modified?: string }[];
      try {
        const response = await this.client.call({ method: 'GET', path: [this.container], query });
        const text = await readText(response);
        if (response.statusCode === 404 || response.statusCode === 204) return;
        if (!isSuccess(response.statusCode)) throw new Error(httpErrorText(response.statusCode, text));
        page = JSON.parse(text);
      } catch (error) {
        throw new WalgError(
          `iterate Swift folder ${JSON.stringify(listPrefix)}: retrieve Swift object names in container ${JSON.stringify(this.container)}: ${errorMessage(error)}`,
          1,
          { cause: error },
        );
      }
      const entries: ListEntry[] = [];
      for (const item of page) {
        if (item.subdir !== undefined) {
          entries.push({ kind: 'folder', key: item.subdir.slice(cut) });
        } else if (item.name !== undefined && item.name !== listPrefix) {
          entries.push({ kind: 'object', key: item.name.slice(cut), size: Number(item.bytes ?? 0), modified: parseListingTime(item.last_modified) });
        }
      }
      entries.sort((a, b) => compareKeys(a.key, b.key));
      yield* entries;
      if (page.length < LIST_LIMIT) return;
      const last = page[page.length - 1];
      marker = last.subdir ?? last.name ?? '';
    }
  }

  private async head(key: string): Promise<IncomingMessage | undefined> {
    const name = this.objectName(key);
    let response: IncomingMessage;
    try {
      response = await this.client.call({ method: 'HEAD', path: [this.container, name] });
    } catch (error) {
      throw new WalgError(`get Swift object stats ${JSON.stringify(name)}: ${errorMessage(error)}`, 1, { cause: error });
    }
    response.resume();
    if (response.statusCode === 404) return undefined;
    if (!isSuccess(response.statusCode)) throw new WalgError(`get Swift object stats ${JSON.stringify(name)}: ${httpErrorText(response.statusCode)}`);
    return response;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const response = await this.head(key);
    if (response === undefined) return undefined;
    return { kind: 'object', key, size: Number(response.headers['content-length'] ?? 0), modified: headerTime(response) };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const name = this.objectName(key);
    if (length === 0) {
      if ((await this.head(key)) === undefined) throw new NotFoundError(key, name);
      return Readable.from([], { objectMode: false });
    }
    const headers: OutgoingHttpHeaders = {};
    if (offset > 0 || length !== undefined) headers.Range = `bytes=${offset}-${length === undefined ? '' : offset + length - 1}`;
    let response: IncomingMessage;
    try {
      response = await this.client.call({ method: 'GET', path: [this.container, name], headers });
    } catch (error) {
      throw new WalgError(`open Swift object ${JSON.stringify(name)}: ${errorMessage(error)}`, 1, { cause: error });
    }
    if (response.statusCode === 404) {
      response.resume();
      throw new NotFoundError(key, name);
    }
    if (response.statusCode === 416) {
      response.resume();
      return Readable.from([], { objectMode: false });
    }
    if (!isSuccess(response.statusCode)) {
      const text = await readText(response);
      throw new WalgError(`open Swift object ${JSON.stringify(name)}: ${httpErrorText(response.statusCode, text)}`);
    }
    return response;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const name = this.objectName(key);
    if (options.overwrite === false && (await this.head(key)) !== undefined) {
      body.destroy();
      throw new ObjectExistsError(key, name);
    }
    const chunks = byteChunks(body);
    try {
      if (options.sizeHint !== undefined && options.sizeHint > this.largeObjectThreshold && this.info.staticLargeObjects) {
        await this.putLargeObject(name, chunks, options.sizeHint);
      } else {
        await this.putSingleObject(name, chunks);
      }
    } catch (error) {
      body.destroy();
      if (chunks.bodyError !== undefined) throw chunks.bodyError;
      if (error instanceof WalgError) throw error;
      throw new WalgError(`put Swift object ${JSON.stringify(name)}: ${errorMessage(error)}`, 1, { cause: error });
    }
  }

  private async putSingleObject(name: string, chunks: ByteChunks): Promise<void> {
    const md5 = createHash('md5');
    let size = 0;
    const counted = (async function* () {
      for await (const chunk of chunks) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    })();
    const response = await this.client.putStream([this.container, name], counted, { 'Content-Type': 'application/octet-stream' });
    const text = await readText(response);
    if (response.statusCode === 413) {
      throw new WalgError(
        `put Swift object ${JSON.stringify(name)}: Too Large Object: it passed the cluster's max_file_size ` +
          `(${this.info.maxFileSize} bytes) and its size was not known in advance, so it could not be split into segments`,
      );
    }
    if (!isSuccess(response.statusCode)) throw new Error(httpErrorText(response.statusCode, text));
    checkEtag(name, response, md5.digest('hex'), size);
  }

  /** A Static Large Object: segments of segmentSize in `<container>_segments`, then the manifest. */
  private async putLargeObject(name: string, chunks: ByteChunks, sizeHint: number): Promise<void> {
    await this.ensureSegmentsContainer();
    const base = `${name}/slo/${(Date.now() / 1000).toFixed(6)}/${sizeHint}/${this.segmentSize}/${randomBytes(4).toString('hex')}`;
    const segments: { path: string; etag: string; size_bytes: number }[] = [];
    const reader = new SegmentReader(chunks, this.segmentSize);
    try {
      for (let index = 0; ; index++) {
        const segmentName = `${base}/${String(index).padStart(8, '0')}`;
        const md5 = createHash('md5');
        let size = 0;
        const segmentChunks = (async function* () {
          for await (const chunk of reader.nextSegment()) {
            md5.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        })();
        const response = await this.client.putStream([this.segmentsContainer, segmentName], segmentChunks, { 'Content-Type': 'application/octet-stream' });
        const text = await readText(response);
        if (!isSuccess(response.statusCode)) throw new Error(`segment ${index}: ${httpErrorText(response.statusCode, text)}`);
        const etag = md5.digest('hex');
        checkEtag(segmentName, response, etag, size);
        segments.push({ path: `/${this.segmentsContainer}/${segmentName}`, etag, size_bytes: size });
        if (await reader.atEnd()) break;
      }
      const manifest = await this.client.call({
        method: 'PUT',
        path: [this.container, name],
        query: { 'multipart-manifest': 'put' },
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(segments),
      });
      const text = await readText(manifest);
      if (!isSuccess(manifest.statusCode)) throw new Error(`manifest: ${httpErrorText(manifest.statusCode, text)}`);
    } catch (error) {
      await this.deleteSegments(segments.map((segment) => segment.path));
      throw error;
    }
  }

  private async ensureSegmentsContainer(): Promise<void> {
    const response = await this.client.call({ method: 'PUT', path: [this.segmentsContainer] });
    const text = await readText(response);
    if (!isSuccess(response.statusCode)) {
      throw new WalgError(`create Swift container ${JSON.stringify(this.segmentsContainer)} for large object segments: ${httpErrorText(response.statusCode, text)}`);
    }
    this.segmentsContainerKnown = true;
  }

  private async deleteSegments(paths: string[]): Promise<void> {
    await inParallel(paths, DELETE_CONCURRENCY, async (path) => {
      const [, container, ...rest] = path.split('/');
      const response = await this.client.call({ method: 'DELETE', path: [container, rest.join('/')] }).catch(() => undefined);
      response?.resume();
    });
  }

  /** Whether `<container>_segments` exists, asked once: without it no SLO of ours can be in the container. */
  private async mayHoldLargeObjects(): Promise<boolean> {
    if (this.segmentsContainerKnown !== undefined) return this.segmentsContainerKnown;
    const response = await this.client.call({ method: 'HEAD', path: [this.segmentsContainer] });
    response.resume();
    this.segmentsContainerKnown = isSuccess(response.statusCode);
    return this.segmentsContainerKnown;
  }

  /**
   * Bulk delete (one request per max_deletes_per_request names) when the cluster offers it, else one DELETE per
   * name, DELETE_CONCURRENCY at a time. When `<container>_segments` exists, the segments of any large object
   * among the keys go too: found with one listing of the segments container, deleted the same way.
   */
  async deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const names = keys.map((key) => this.objectName(key));
    const segments = this.info.staticLargeObjects && (await this.mayHoldLargeObjects()) ? await this.segmentsOf(names) : [];
    await this.deleteNames(this.container, names);
    if (segments.length > 0) await this.deleteNames(this.segmentsContainer, segments);
  }

  private async deleteNames(container: string, names: string[]): Promise<void> {
    if (this.info.bulkDelete) {
      const batch = Math.max(1, this.info.maxDeletesPerRequest);
      for (let start = 0; start < names.length; start += batch) await this.bulkDelete(container, names.slice(start, start + batch));
      return;
    }
    await inParallel(names, DELETE_CONCURRENCY, async (name) => {
      const response = await this.client.call({ method: 'DELETE', path: [container, name] }).catch((error: unknown) => {
        throw new WalgError(`delete Swift object ${JSON.stringify(name)}: ${errorMessage(error)}`, 1, { cause: error });
      });
      const text = await readText(response);
      if (response.statusCode !== 404 && !isSuccess(response.statusCode)) {
        throw new WalgError(`delete Swift object ${JSON.stringify(name)}: ${httpErrorText(response.statusCode, text)}`);
      }
    });
  }

  /** Segment names (in the segments container) of the large objects among `names`. */
  private async segmentsOf(names: string[]): Promise<string[]> {
    const wanted = new Set(names);
    let common = names[0];
    for (const name of names) {
      let length = 0;
      while (length < common.length && length < name.length && common[length] === name[length]) length++;
      common = common.slice(0, length);
    }
    const found: string[] = [];
    let marker = '';
    for (;;) {
      const query: Record<string, string> = { format: 'json', prefix: common, limit: String(LIST_LIMIT) };
      if (marker !== '') query.marker = marker;
      const response = await this.client.call({ method: 'GET', path: [this.segmentsContainer], query });
      const text = await readText(response);
      if (response.statusCode === 404 || response.statusCode === 204) return found;
      if (!isSuccess(response.statusCode)) {
        throw new WalgError(`list Swift large object segments in ${JSON.stringify(this.segmentsContainer)}: ${httpErrorText(response.statusCode, text)}`);
      }
      const page = JSON.parse(text) as { name: string }[];
      for (const { name } of page) {
        // <object name>/slo/<time>/<size>/<segment size>/<nonce>/<index>
        const parts = name.split('/');
        if (parts.length > 6 && parts[parts.length - 6] === 'slo' && wanted.has(parts.slice(0, -6).join('/'))) found.push(name);
      }
      if (page.length < LIST_LIMIT) return found;
      marker = page[page.length - 1].name;
    }
  }

  private async bulkDelete(container: string, names: string[]): Promise<void> {
    const body = names.map((name) => `/${encodePathPart(container)}/${encodePathPart(name)}`).join('\n');
    let response: IncomingMessage;
    try {
      response = await this.client.call({
        method: 'POST',
        path: [],
        query: { 'bulk-delete': 'true' },
        headers: { 'Content-Type': 'text/plain', Accept: 'application/json' },
        body,
      });
    } catch (error) {
      throw new WalgError(`delete Swift objects: ${errorMessage(error)}`, 1, { cause: error });
    }
    const text = await readText(response);
    if (!isSuccess(response.statusCode)) throw new WalgError(`delete Swift objects: ${httpErrorText(response.statusCode, text)}`);
    checkBulkAnswer(text, names);
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    const source = this.objectName(sourceKey);
    const destination = this.objectName(destinationKey);
    const head = await this.head(sourceKey);
    if (head === undefined) throw new NotFoundError(sourceKey, source);
    if (String(head.headers['x-static-large-object']).toLowerCase() === 'true') {
      // A server-side copy of a manifest would share its segments (or fail past max_file_size): copy the bytes.
      const size = Number(head.headers['content-length'] ?? 0);
      await this.put(destinationKey, await this.get(sourceKey), { sizeHint: size });
      return;
    }
    const response = await this.client
      .call({
        method: 'PUT',
        path: [this.container, destination],
        headers: { 'X-Copy-From': `/${encodePathPart(this.container)}/${encodePathPart(source)}`, 'Content-Length': '0' },
      })
      .catch((error: unknown) => {
        throw new WalgError(`copy Swift object ${JSON.stringify(source)} -> ${JSON.stringify(destination)}: ${errorMessage(error)}`, 1, { cause: error });
      });
    const text = await readText(response);
    if (response.statusCode === 404) throw new NotFoundError(sourceKey, source);
    if (!isSuccess(response.statusCode)) {
      throw new WalgError(`copy Swift object ${JSON.stringify(source)} -> ${JSON.stringify(destination)}: ${httpErrorText(response.statusCode, text)}`);
    }
  }

  async close(): Promise<void> {
    /* connections are not kept alive between calls */
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Authentication

interface AuthResult {
  storageUrl: string;
  token: string;
  expires?: number;
}

/** The Go library's rule: a URL mentioning v3 means keystone v3, v2 means v2, anything else v1. */
export function detectAuthVersion(authUrl: string): number {
  if (authUrl.includes('v3')) return 3;
  if (authUrl.includes('v2')) return 2;
  return 1;
}

async function authenticateV1(settings: SwiftAuthSettings): Promise<AuthResult> {
  const response = await send(new URL(settings.authUrl), {
    method: 'GET',
    headers: { 'X-Auth-User': settings.userName, 'X-Auth-Key': settings.apiKey },
    connectTimeoutMs: settings.connectTimeoutMs,
    dataTimeoutMs: settings.dataTimeoutMs,
  });
  const text = await readText(response);
  checkAuthStatus(response, text);
  const storageUrl = String(response.headers['x-storage-url'] ?? '');
  const token = String(response.headers['x-auth-token'] ?? '');
  if (storageUrl === '' || token === '') throw new Error("Response didn't have storage url and auth token");
  const expiresIn = Number(response.headers['x-auth-token-expires']);
  return { storageUrl, token, expires: Number.isFinite(expiresIn) ? Date.now() + expiresIn * 1000 : undefined };
}

async function authenticateV2(settings: SwiftAuthSettings): Promise<AuthResult> {
  const auth: Record<string, unknown> = { passwordCredentials: { username: settings.userName, password: settings.apiKey } };
  if (settings.tenant !== '') auth.tenantName = settings.tenant;
  if (settings.tenantId !== '') auth.tenantId = settings.tenantId;
  const response = await sendJson(joinUrl(settings.authUrl, 'tokens'), { auth }, settings);
  const text = await readText(response);
  checkAuthStatus(response, text);
  const answer = JSON.parse(text) as {
    access?: { token?: { id?: string; expires?: string }; serviceCatalog?: { type?: string; endpoints?: Record<string, string>[] }[] };
  };
  const token = answer.access?.token?.id ?? '';
  const service = answer.access?.serviceCatalog?.find((entry) => entry.type === 'object-store');
  const endpoints = service?.endpoints ?? [];
  const endpoint = endpoints.find((entry) => settings.region === '' || entry.region === settings.region);
  const field = settings.endpointType === 'internal' ? 'internalURL' : settings.endpointType === 'admin' ? 'adminURL' : 'publicURL';
  const storageUrl = endpoint?.[field] ?? '';
  if (storageUrl === '' || token === '') throw new Error("Response didn't have storage url and auth token");
  const expires = answer.access?.token?.expires ? Date.parse(answer.access.token.expires) : undefined;
  return { storageUrl, token, expires };
}

async function authenticateV3(settings: SwiftAuthSettings): Promise<AuthResult> {
  const domain = (name: string, id: string): Record<string, string> | undefined =>
    id !== '' ? { id } : name !== '' ? { name } : undefined;
  let identity: Record<string, unknown>;
  if (settings.applicationCredentialId !== '' || settings.applicationCredentialName !== '') {
    const credential: Record<string, unknown> = { secret: settings.applicationCredentialSecret };
    if (settings.applicationCredentialId !== '') credential.id = settings.applicationCredentialId;
    else {
      credential.name = settings.applicationCredentialName;
      credential.user = settings.userId !== '' ? { id: settings.userId } : { name: settings.userName, domain: domain(settings.domain, settings.domainId) };
    }
    identity = { methods: ['application_credential'], application_credential: credential };
  } else if (settings.userName === '' && settings.userId === '' && settings.authToken !== '') {
    identity = { methods: ['token'], token: { id: settings.authToken } };
  } else {
    const user: Record<string, unknown> = { password: settings.apiKey };
    if (settings.userId !== '') user.id = settings.userId;
    else {
      user.name = settings.userName;
      user.domain = domain(settings.domain, settings.domainId) ?? { name: 'Default' };
    }
    identity = { methods: ['password'], password: { user } };
  }
  const auth: Record<string, unknown> = { identity };
  if (settings.trustId !== '') {
    auth.scope = { 'OS-TRUST:trust': { id: settings.trustId } };
  } else if (settings.tenantId !== '') {
    auth.scope = { project: { id: settings.tenantId } };
  } else if (settings.tenant !== '') {
    auth.scope = {
      project: {
        name: settings.tenant,
        domain: domain(settings.tenantDomain, settings.tenantDomainId) ?? domain(settings.domain, settings.domainId) ?? { name: 'Default' },
      },
    };
  }
  const response = await sendJson(joinUrl(settings.authUrl, 'auth/tokens'), { auth }, settings);
  const text = await readText(response);
  checkAuthStatus(response, text);
  const token = String(response.headers['x-subject-token'] ?? '');
  const answer = JSON.parse(text) as {
    token?: { expires_at?: string; catalog?: { type?: string; endpoints?: { interface?: string; region?: string; region_id?: string; url?: string }[] }[] };
  };
  const service = answer.token?.catalog?.find((entry) => entry.type === 'object-store');
  const wanted = settings.endpointType === '' ? 'public' : settings.endpointType;
  const endpoint = (service?.endpoints ?? []).find(
    (entry) => entry.interface === wanted && (settings.region === '' || entry.region === settings.region || entry.region_id === settings.region),
  );
  const storageUrl = endpoint?.url ?? '';
  if (storageUrl === '' || token === '') throw new Error("Response didn't have storage url and auth token");
  const expires = answer.token?.expires_at ? Date.parse(answer.token.expires_at) : undefined;
  return { storageUrl, token, expires };
}

function checkAuthStatus(response: IncomingMessage, text: string): void {
  const status = response.statusCode ?? 0;
  if (status === 401) throw new Error('Authorization Failed');
  if (status === 403) throw new Error('Operation forbidden');
  if (status === 400) throw new Error('Bad Request');
  if (!isSuccess(status)) throw new Error(httpErrorText(status, text));
}

function sendJson(url: URL, document: unknown, settings: SwiftAuthSettings): Promise<IncomingMessage> {
  return send(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(document),
    connectTimeoutMs: settings.connectTimeoutMs,
    dataTimeoutMs: settings.dataTimeoutMs,
  });
}

function joinUrl(base: string, tail: string): URL {
  return new URL(base.endsWith('/') ? base + tail : `${base}/${tail}`);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

interface SendOptions {
  method: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer | string;
  stream?: AsyncIterable<Buffer>;
  connectTimeoutMs: number;
  dataTimeoutMs: number;
}

/**
 * One HTTP request; resolves with the response (its body unread) or rejects on a connection error. A streamed
 * body is written with backpressure; if the stream fails the request is destroyed, so Swift never stores it.
 */
function send(url: URL, options: SendOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: options.method,
      headers: options.body === undefined ? options.headers : { ...options.headers, 'Content-Length': Buffer.byteLength(options.body) },
      agent: false,
      timeout: options.dataTimeoutMs,
    });
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    const connectTimer = setTimeout(() => request.destroy(new Error(`connect to ${url.host}: timed out after ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
    request.once('socket', (socket) => {
      if (!socket.connecting) clearTimeout(connectTimer);
      else socket.once('connect', () => clearTimeout(connectTimer));
    });
    request.on('timeout', () => request.destroy(new Error(`no data from ${url.host} for ${options.dataTimeoutMs} ms`)));
    request.on('error', (error) => {
      clearTimeout(connectTimer);
      fail(error);
    });
    request.on('response', (response) => {
      clearTimeout(connectTimer);
      settled = true;
      resolve(response);
    });
    if (options.stream === undefined) {
      request.end(options.body);
      return;
    }
    const source = options.stream;
    void (async () => {
      try {
        for await (const chunk of source) {
          if (request.destroyed) return;
          if (!request.write(chunk)) {
            await new Promise<void>((resume) => {
              const done = (): void => {
                request.off('drain', done);
                request.off('close', done);
                resume();
              };
              request.on('drain', done);
              request.on('close', done);
            });
          }
        }
        request.end();
      } catch (error) {
        request.destroy();
        fail(error);
      }
    })();
  });
}

async function readText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function isSuccess(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status <= 299;
}

/** The Go library's texts for the statuses it names, else `HTTP Error: N: <body>`. */
function httpErrorText(status: number | undefined, body = ''): string {
  const named: Record<number, string> = {
    400: 'Bad Request',
    401: 'Authorization Failed',
    403: 'Operation forbidden',
    404: 'Object Not Found',
    413: 'Too Large Object',
    422: 'Object Corrupted',
    429: 'TooManyRequests',
    498: 'Rate Limit',
  };
  const detail = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  const name = status !== undefined ? named[status] : undefined;
  if (name !== undefined) return detail === '' ? name : `${name}: ${detail}`;
  return `HTTP Error: ${status}${detail === '' ? '' : `: ${detail}`}`;
}

function checkEtag(name: string, response: IncomingMessage, md5: string, size: number): void {
  const etag = String(response.headers.etag ?? '').replace(/"/g, '');
  if (etag !== '' && etag !== md5) {
    throw new WalgError(`put Swift object ${JSON.stringify(name)}: Object Corrupted: Swift stored MD5 ${etag} but ${size} bytes with MD5 ${md5} were sent`);
  }
}

/** Bulk delete answers 200 with a JSON report; only missing objects are not errors. */
function checkBulkAnswer(text: string, names: string[]): void {
  let report: { 'Response Status'?: string; Errors?: [string, string][] };
  try {
    report = JSON.parse(text);
  } catch {
    return;
  }
  const errors = (report.Errors ?? []).filter(([, status]) => !status.startsWith('404'));
  if (errors.length > 0) {
    const [path, status] = errors[0];
    throw new WalgError(`delete Swift objects: ${errors.length} of ${names.length} were not deleted; first: ${decodeURIComponent(path)}: ${status}`);
  }
  const status = report['Response Status'] ?? '200';
  if (!status.startsWith('2') && !status.startsWith('404')) throw new WalgError(`delete Swift objects: ${status}`);
}

function encodePathPart(part: string): string {
  return part.split('/').map(encodeURIComponent).join('/');
}

/** Container listings give UTC times with microseconds and no zone: `2024-01-31T12:34:56.123456`. */
function parseListingTime(text: string | undefined): Date {
  if (text === undefined) return new Date(0);
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?/.exec(text);
  if (match === null) return new Date(Date.parse(text));
  const milliseconds = (match[2] ?? '').padEnd(3, '0').slice(0, 3);
  return new Date(`${match[1]}.${milliseconds}Z`);
}

/** X-Timestamp (seconds with fractions) is the listing's time exactly; Last-Modified is rounded up to seconds. */
function headerTime(response: IncomingMessage): Date {
  const timestamp = Number(response.headers['x-timestamp']);
  if (Number.isFinite(timestamp)) return new Date(Math.floor(timestamp * 1000));
  const lastModified = response.headers['last-modified'];
  return lastModified === undefined ? new Date(0) : new Date(lastModified);
}

/** Go duration text as the Go library reads its timeouts (`10s`, `100ms`, `1m30s`). */
function parseGoDurationMs(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const pattern = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    total += Number(match[1]) * units[match[2]];
    matched = pattern.lastIndex;
  }
  return matched === text.length && text !== '' ? total : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Body plumbing

interface ByteChunks extends AsyncIterable<Buffer> {
  /** The body's own error, when it failed (rethrown to the caller untouched). */
  bodyError: unknown;
}

/** The body as Buffers, remembering its own error so it is not mistaken for a storage error. */
function byteChunks(body: Readable): ByteChunks {
  const wrapper: ByteChunks = {
    bodyError: undefined,
    async *[Symbol.asyncIterator]() {
      try {
        for await (const chunk of body) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      } catch (error) {
        wrapper.bodyError = error;
        throw error;
      }
    },
  };
  return wrapper;
}

/** Splits one chunk stream into consecutive segments of at most `segmentSize` bytes. */
class SegmentReader {
  private readonly source: AsyncIterator<Buffer>;
  private readonly segmentSize: number;
  private leftover: Buffer | undefined;
  private ended = false;

  constructor(chunks: AsyncIterable<Buffer>, segmentSize: number) {
    this.source = chunks[Symbol.asyncIterator]();
    this.segmentSize = segmentSize;
  }

  /** True when the body has no byte left (reads ahead one chunk to know). */
  async atEnd(): Promise<boolean> {
    if (this.leftover !== undefined && this.leftover.length > 0) return false;
    if (this.ended) return true;
    const step = await this.source.next();
    if (step.done) {
      this.ended = true;
      return true;
    }
    this.leftover = step.value;
    return step.value.length === 0 ? this.atEnd() : false;
  }

  async *nextSegment(): AsyncGenerator<Buffer> {
    let remaining = this.segmentSize;
    while (remaining > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (chunk === undefined) {
        if (this.ended) return;
        const step = await this.source.next();
        if (step.done) {
          this.ended = true;
          return;
        }
        chunk = step.value;
      }
      if (chunk.length > remaining) {
        this.leftover = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      yield chunk;
    }
  }
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      try {
        await work(items[next++]);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
