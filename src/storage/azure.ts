// The Azure Blob Storage driver (WALG_AZ_PREFIX=azure://container/path), with WAL-G's settings and their error texts.
//
// A body that fits in AZURE_BUFFER_SIZE goes up in one request; a bigger one goes through the SDK's uploadStream:
// cut into AZURE_BUFFER_SIZE blocks, at most AZURE_MAX_BUFFERS of them in memory, staged, and committed as one
// block list at the end. Either way a blob appears whole or not at all, and memory stays at about
// bufferSize × maxBuffers. The SDK is loaded only when an Azure storage is opened.
//
// Divergence from WAL-G: WAL-G always talks to https://<account>.blob.<suffix>. WALNUT_AZURE_ENDPOINT (walnut
// only, meant for Azurite and private endpoints) replaces that account URL, e.g. http://127.0.0.1:10000/devstoreaccount1.

import { Readable } from 'node:stream';
import type { BlobItem, ContainerClient } from '@azure/storage-blob';
import { WalgError, errorMessage } from '../errors.ts';
import { goAtoi, parseGoInt } from '../config/go-values.ts';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';
import { goQuote } from './go-text.ts';
import type { SettingLookup } from './open.ts';
import { parseStoragePrefix } from './prefix.ts';

export const AZURE_ACCOUNT_SETTING = 'AZURE_STORAGE_ACCOUNT';
export const AZURE_ACCESS_KEY_SETTING = 'AZURE_STORAGE_ACCESS_KEY';
export const AZURE_SAS_TOKEN_SETTING = 'AZURE_STORAGE_SAS_TOKEN';
export const AZURE_ENVIRONMENT_SETTING = 'AZURE_ENVIRONMENT_NAME';
export const AZURE_ENDPOINT_SUFFIX_SETTING = 'AZURE_ENDPOINT_SUFFIX';
export const AZURE_BUFFER_SIZE_SETTING = 'AZURE_BUFFER_SIZE';
export const AZURE_MAX_BUFFERS_SETTING = 'AZURE_MAX_BUFFERS';
export const AZURE_TRY_TIMEOUT_SETTING = 'AZURE_TRY_TIMEOUT';
/** walnut only: the account's blob service URL, replacing https://<account>.blob.<suffix> (Azurite, private links). */
export const AZURE_ENDPOINT_OVERRIDE_SETTING = 'WALNUT_AZURE_ENDPOINT';

const DEFAULT_BUFFER_SIZE = 8 * 1024 * 1024;
const MIN_BUFFER_SIZE = 1024;
const DEFAULT_MAX_BUFFERS = 4;
const MIN_BUFFERS = 1;
const DEFAULT_TRY_TIMEOUT_MINUTES = 5;
const DEFAULT_ENVIRONMENT = 'AzurePublicCloud';
/** Blobs deleted at once by deleteMany (WAL-G deletes one by one; parallel requests are just faster). */
const DELETE_CONCURRENCY = 16;
/** Blobs per list page: the service maximum, so big folders take few round trips. */
const LIST_PAGE_SIZE = 5000;
/** How often a download resumes (from where it broke) after its connection fails. */
const DOWNLOAD_RESUME_RETRIES = 5;

export type AzureAuthentication =
  | { kind: 'access-key'; accessKey: string }
  | { kind: 'sas-token'; sasToken: string }
  | { kind: 'default-credential' };

/** Everything an Azure storage needs, read from the settings as WAL-G reads them. Holds secrets: never log it. */
export interface AzureSettings {
  account: string;
  container: string;
  /** '' or a folder path ending with '/': prepended to every key. */
  rootPath: string;
  authentication: AzureAuthentication;
  endpointSuffix: string;
  /** The container's URL without any SAS token. */
  containerUrl: string;
  bufferSize: number;
  maxBuffers: number;
  tryTimeoutMs: number;
}

/** Knobs WAL-G has no setting for, used by tests: the SDK's retry count and delays, the list page size. */
export interface AzureClientTuning {
  maxTries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  listPageSize?: number;
}

/** The storage suffix of a named Azure cloud; any other name means the public cloud, as in WAL-G. */
export function azureEndpointSuffix(environmentName: string): string {
  switch (environmentName) {
    case 'AzureUSGovernmentCloud':
      return 'core.usgovcloudapi.net';
    case 'AzureChinaCloud':
      return 'core.chinacloudapi.cn';
    case 'AzureGermanCloud':
      return 'core.cloudapi.de';
    default:
      return 'core.windows.net';
  }
}

/** Reads the Azure settings in WAL-G's order, so the first problem reported is the one WAL-G reports. */
export function readAzureSettings(prefix: string, getSetting: SettingLookup): AzureSettings {
  const account = setting(getSetting, AZURE_ACCOUNT_SETTING);
  if (account === undefined) throw new WalgError(`"${AZURE_ACCOUNT_SETTING}" is not specified`);

  let authentication: AzureAuthentication = { kind: 'default-credential' };
  const accessKey = setting(getSetting, AZURE_ACCESS_KEY_SETTING);
  const sasToken = setting(getSetting, AZURE_SAS_TOKEN_SETTING);
  if (accessKey !== undefined) {
    authentication = { kind: 'access-key', accessKey };
  } else if (sasToken !== undefined) {
    // Tokens are copied from the portal with or without their '?'.
    authentication = { kind: 'sas-token', sasToken: sasToken.startsWith('?') ? sasToken : `?${sasToken}` };
  }

  const tryTimeoutMinutes = intSetting(getSetting, AZURE_TRY_TIMEOUT_SETTING, DEFAULT_TRY_TIMEOUT_MINUTES);
  const { bucket: container, path: rootPath } = parseStoragePrefix('az', prefix);

  const endpointSuffix =
    setting(getSetting, AZURE_ENDPOINT_SUFFIX_SETTING) ??
    azureEndpointSuffix(setting(getSetting, AZURE_ENVIRONMENT_SETTING) ?? DEFAULT_ENVIRONMENT);

  const bufferSize = Math.max(int64Setting(getSetting, AZURE_BUFFER_SIZE_SETTING, DEFAULT_BUFFER_SIZE), MIN_BUFFER_SIZE);
  const maxBuffers = Math.max(intSetting(getSetting, AZURE_MAX_BUFFERS_SETTING, DEFAULT_MAX_BUFFERS), MIN_BUFFERS);

  const override = setting(getSetting, AZURE_ENDPOINT_OVERRIDE_SETTING);
  const accountUrl = override !== undefined ? override.replace(/\/+$/, '') : `https://${account}.blob.${endpointSuffix}`;
  return {
    account,
    container,
    rootPath,
    authentication,
    endpointSuffix,
    containerUrl: `${accountUrl}/${container}`,
    bufferSize,
    maxBuffers,
    tryTimeoutMs: tryTimeoutMinutes * 60 * 1000,
  };
}

/** Opens an Azure storage from WALG_AZ_PREFIX's value and the settings; no request is sent yet. */
export async function openAzureStorage(
  prefix: string,
  getSetting: SettingLookup,
  tuning: AzureClientTuning = {},
): Promise<AzureStorageDriver> {
  const settings = readAzureSettings(prefix, getSetting);
  let container: ContainerClient;
  try {
    container = await createContainerClient(settings, tuning);
  } catch (error) {
    // WAL-G's own wording, "Google Cloud" included (a copy-paste slip in WAL-G that scripts may match on).
    throw new WalgError(`create Google Cloud storage: create Azure container client: ${errorMessage(error)}`, 1, {
      cause: error,
    });
  }
  return new AzureStorageDriver(container, settings, tuning.listPageSize);
}

async function createContainerClient(settings: AzureSettings, tuning: AzureClientTuning): Promise<ContainerClient> {
  const sdk = await import('@azure/storage-blob');
  const options = {
    retryOptions: {
      tryTimeoutInMs: settings.tryTimeoutMs,
      maxTries: tuning.maxTries,
      retryDelayInMs: tuning.retryDelayMs,
      maxRetryDelayInMs: tuning.maxRetryDelayMs,
    },
  };
  const authentication = settings.authentication;
  switch (authentication.kind) {
    case 'access-key': {
      let credential;
      try {
        credential = new sdk.StorageSharedKeyCredential(settings.account, authentication.accessKey);
      } catch (error) {
        throw new WalgError(`create shared key credentials: ${errorMessage(error)}`, 1, { cause: error });
      }
      return new sdk.ContainerClient(settings.containerUrl, credential, options);
    }
    case 'sas-token':
      return new sdk.ContainerClient(settings.containerUrl + authentication.sasToken, new sdk.AnonymousCredential(), options);
    case 'default-credential': {
      const credential = await defaultAzureCredential();
      return new sdk.ContainerClient(settings.containerUrl, credential, options);
    }
  }
}

/** Azure's default credential chain (environment, workload identity, managed identity, Azure CLI). */
async function defaultAzureCredential(): Promise<import('@azure/core-auth').TokenCredential> {
  let identity: { DefaultAzureCredential: new () => import('@azure/core-auth').TokenCredential };
  try {
    // A variable specifier keeps bundlers from requiring the package: it is only needed for keyless setups.
    const packageName = '@azure/identity';
    identity = (await import(packageName)) as typeof identity;
  } catch (error) {
    throw new WalgError(
      `construct the default Azure credential chain: @azure/identity is not available (${errorMessage(error)}); ` +
        `set ${AZURE_ACCESS_KEY_SETTING} or ${AZURE_SAS_TOKEN_SETTING}`,
      1,
      { cause: error },
    );
  }
  try {
    return new identity.DefaultAzureCredential();
  } catch (error) {
    throw new WalgError(`construct the default Azure credential chain: ${errorMessage(error)}`, 1, { cause: error });
  }
}

export class AzureStorageDriver implements StorageDriver {
  readonly kind = 'azure';
  readonly settings: AzureSettings;
  private readonly container: ContainerClient;
  private readonly listPageSize: number;

  constructor(container: ContainerClient, settings: AzureSettings, listPageSize = LIST_PAGE_SIZE) {
    this.container = container;
    this.settings = settings;
    this.listPageSize = listPageSize;
  }

  /** The blob name behind a key. */
  blobName(key: string): string {
    return this.settings.rootPath + key;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const listPrefix = this.blobName(prefix);
    const cut = this.settings.rootPath.length;
    try {
      if (options.recursive === true) {
        const pages = this.container.listBlobsFlat({ prefix: listPrefix }).byPage({ maxPageSize: this.listPageSize });
        for await (const page of pages) {
          for (const blob of page.segment.blobItems) yield objectEntry(blob, cut);
        }
        return;
      }
      const pages = this.container.listBlobsByHierarchy('/', { prefix: listPrefix }).byPage({ maxPageSize: this.listPageSize });
      for await (const page of pages) {
        // A page holds blobs and prefixes in two lists; merge them back into key order.
        const entries: ListEntry[] = page.segment.blobItems.map((blob) => objectEntry(blob, cut));
        for (const blobPrefix of page.segment.blobPrefixes ?? []) {
          entries.push({ kind: 'folder', key: blobPrefix.name.slice(cut) });
        }
        entries.sort((a, b) => compareKeys(a.key, b.key));
        yield* entries;
      }
    } catch (error) {
      throw new WalgError(`iterate through folder ${goQuote(listPrefix)}: ${azureReason(error)}`, 1, { cause: error });
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const name = this.blobName(key);
    try {
      const properties = await this.container.getBlobClient(name).getProperties();
      return { kind: 'object', key, size: properties.contentLength ?? 0, modified: properties.lastModified ?? new Date(0) };
    } catch (error) {
      if (isBlobMissing(error)) return undefined;
      throw new WalgError(`get Azure object stats ${goQuote(name)}: ${azureReason(error)}`, 1, { cause: error });
    }
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const name = this.blobName(key);
    if (length === 0) {
      // The SDK reads a count of 0 as "to the end"; an empty read only has to prove the blob exists.
      if ((await this.stat(key)) === undefined) throw new NotFoundError(key, name);
      return emptyStream();
    }
    try {
      const response = await this.container
        .getBlobClient(name)
        .download(offset, length, { maxRetryRequests: DOWNLOAD_RESUME_RETRIES });
      const body = response.readableStreamBody;
      if (body === undefined) return emptyStream();
      return body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>, { objectMode: false });
    } catch (error) {
      if (isBlobMissing(error)) throw new NotFoundError(key, name);
      // 416: the offset is at or past the end of an existing blob.
      if (statusOf(error) === 416) return emptyStream();
      throw new WalgError(`download blob ${goQuote(name)}: ${azureReason(error)}`, 1, { cause: error });
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const name = this.blobName(key);
    const overwrite = options.overwrite ?? true;
    // Fail before reading a possibly huge body; the commit's condition below still catches a racing writer.
    if (!overwrite && (await this.stat(key)) !== undefined) {
      body.destroy();
      throw new ObjectExistsError(key, name);
    }
    // Until the body is read, its failure must not go unheard (an 'error' without listener ends the process).
    body.on('error', ignoreError);
    const conditions = overwrite ? undefined : { ifNoneMatch: '*' };
    const blob = this.container.getBlockBlobClient(name);
    const reader = new BodyReader(body);
    try {
      // Like the Go SDK WAL-G uses: a body that fits in one buffer goes up in one Put Blob request; a bigger one
      // is staged block by block (at most maxBuffers blocks in memory) and committed at the end.
      const head = await readUpTo(reader, this.settings.bufferSize);
      if (head.ended) {
        const data = Buffer.concat(head.chunks);
        await blob.upload(data, data.length, { conditions });
      } else {
        const rest = Readable.from(continueWith(head.chunks, reader), { objectMode: false });
        await blob.uploadStream(rest, this.settings.bufferSize, this.settings.maxBuffers, { conditions });
      }
    } catch (error) {
      // Taken before destroy(), whose own abort must not pass for the body's failure.
      const bodyFailure = reader.failure;
      body.destroy();
      if (bodyFailure !== undefined) throw bodyFailure;
      if (!overwrite && (statusOf(error) === 409 || statusOf(error) === 412)) throw new ObjectExistsError(key, name);
      throw new WalgError(`upload blob ${goQuote(name)}: ${azureReason(error)}`, 1, { cause: error });
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    await inParallel(keys, DELETE_CONCURRENCY, async (key) => {
      const name = this.blobName(key);
      try {
        await this.container.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include' });
      } catch (error) {
        throw new WalgError(`delete object ${goQuote(name)}: ${azureReason(error)}`, 1, { cause: error });
      }
    });
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    const sourceName = this.blobName(sourceKey);
    const destinationName = this.blobName(destinationKey);
    // As in WAL-G: a missing source is reported as such, not as Azure's CannotVerifyCopySource.
    if ((await this.stat(sourceKey)) === undefined) throw new NotFoundError(sourceKey, sourceName);
    try {
      const source = this.container.getBlobClient(sourceName);
      const poller = await this.container.getBlobClient(destinationName).beginCopyFromURL(source.url, { tier: 'Hot' });
      await poller.pollUntilDone();
    } catch (error) {
      if (isBlobMissing(error)) throw new NotFoundError(sourceKey, sourceName);
      throw new WalgError(`copy blob ${goQuote(sourceName)} to ${goQuote(destinationName)}: ${azureReason(error)}`, 1, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    /* the SDK holds no connection that needs closing */
  }
}

/** Pulls chunks until more than `limit` bytes are in hand or the body ends. */
async function readUpTo(reader: BodyReader, limit: number): Promise<{ chunks: Buffer[]; ended: boolean }> {
  const taken: Buffer[] = [];
  let length = 0;
  while (length <= limit) {
    const chunk = await reader.next();
    if (chunk === undefined) return { chunks: taken, ended: true };
    taken.push(chunk);
    length += chunk.length;
  }
  return { chunks: taken, ended: false };
}

/** The chunks already read, then the rest of the body. */
async function* continueWith(head: Buffer[], reader: BodyReader): AsyncGenerator<Buffer> {
  yield* head;
  for (let chunk = await reader.next(); chunk !== undefined; chunk = await reader.next()) yield chunk;
}

/**
 * Pulls a put's body chunk by chunk and remembers a failure of the body itself, so it can reach the caller
 * untouched (say, a broken compressor) while storage failures get wrapped. It never cancels the body's iterator:
 * that would destroy the body with an AbortError that then looks like the body's own failure.
 */
class BodyReader {
  /** The body's own error, once it failed. */
  failure: unknown;
  private readonly chunks: AsyncIterator<Buffer | string>;

  constructor(body: Readable) {
    this.chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  }

  /** The next chunk, or undefined at the end. */
  async next(): Promise<Buffer | undefined> {
    let step: IteratorResult<Buffer | string>;
    try {
      step = await this.chunks.next();
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
    if (step.done) return undefined;
    return typeof step.value === 'string' ? Buffer.from(step.value) : step.value;
  }
}

function objectEntry(blob: BlobItem, cut: number): ListEntry {
  return {
    kind: 'object',
    key: blob.name.slice(cut),
    size: blob.properties.contentLength ?? 0,
    modified: blob.properties.lastModified,
  };
}

function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function isBlobMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return statusOf(error) === 404 && (code === 'BlobNotFound' || code === undefined || code === 'ResourceNotFound');
}

/** An SDK error in one line: the service's first message line plus status and code; never headers or tokens. */
export function azureReason(error: unknown): string {
  const firstLine = errorMessage(error).split('\n')[0].trim();
  const status = statusOf(error);
  if (status === undefined) return firstLine;
  const code = (error as { code?: unknown }).code;
  return `${firstLine} (HTTP ${status}${typeof code === 'string' ? ` ${code}` : ''})`;
}

/** A setting's value, undefined when unset or empty. */
function setting(getSetting: SettingLookup, name: string): string | undefined {
  const value = getSetting(name);
  return value === undefined || value === '' ? undefined : value;
}

/** WAL-G's setting.IntOptional (strconv.Atoi). */
function intSetting(getSetting: SettingLookup, name: string, fallback: number): number {
  const text = setting(getSetting, name);
  if (text === undefined) return fallback;
  try {
    return goAtoi(text);
  } catch (error) {
    throw new WalgError(`setting "${name}" must be an integer: ${errorMessage(error)}`);
  }
}

/** WAL-G's setting.Int64Optional (strconv.ParseInt base 10). */
function int64Setting(getSetting: SettingLookup, name: string, fallback: number): number {
  const text = setting(getSetting, name);
  if (text === undefined) return fallback;
  try {
    return parseGoInt(text, 10);
  } catch (error) {
    throw new WalgError(`setting "${name}" must be a 64-bit integer: ${errorMessage(error)}`);
  }
}

/** Runs `work` on every item with at most `limit` in flight; the first failure stops new work and is thrown. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
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

/** Keeps a body's 'error' event from going unheard; the failure itself is read from body.errored. */
function ignoreError(): void {}
