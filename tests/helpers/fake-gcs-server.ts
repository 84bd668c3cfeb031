// A small Google Cloud Storage JSON-API server for integration tests (no GCS emulator exists here), keeping objects on disk.
//
// Usage:
//   await using gcs = await startFakeGcs();
//   // settings: WALNUT_GCS_ENDPOINT=gcs.endpoint (the SDK sends no credentials to a custom endpoint)
//
// It speaks the part of the JSON API that @google-cloud/storage and walnut use: object insert (multipart, media,
// and resumable sessions with 308 + Range, chunked Content-Range, X-Goog-Hash checks and cancel), metadata, alt=media with Range, list with
// prefix/delimiter/pageToken/maxResults, delete, rewrite/copy, ifGenerationMatch, and customer-supplied
// encryption keys (checked by their SHA-256, as GCS does). Every object carries the md5Hash and crc32c the SDK
// validates. Object bytes live in files under `directory` (a 1 GiB object never sits in memory); the index is
// rebuilt from the files on start(), so a stop()/start() pair behaves like a server restart. Resumable sessions
// survive a restart too, as they do on GCS. Buckets exist as soon as they are named.

import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, truncate, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32cBase64, crc32cUpdate } from '../../src/storage/gcs.ts';
import { makeTempDir, registerExitCleanup, removeTempDir } from './tmp.ts';

/** Largest multipart body accepted; the SDK sends big objects as resumable uploads. */
const MULTIPART_LIMIT = 64 * 1024 * 1024;
const DEFAULT_PAGE_SIZE = 1000;

interface StoredObject {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  timeCreated: string;
  updated: string;
  /** File name (in objects/) holding the bytes of this generation. */
  dataFile: string;
  keySha256?: string;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  contentType: string;
  keySha256?: string;
  ifGenerationMatch?: string;
  received: number;
  /** CRC32C of the bytes received so far (chainable), and their MD5 state. */
  crc: number;
  md5: Hash;
}

/** What the server saw, for tests that check how the client talked to it. */
export interface FakeGcsStatistics {
  multipartUploads: number;
  resumableSessions: number;
  /** PUT requests carrying data for a resumable session. */
  resumableChunkRequests: number;
  /** The most bytes one PUT request of a resumable session carried. */
  largestResumableChunk: number;
  /** Resumable sessions the client cancelled (DELETE). */
  cancelledSessions: number;
}

export interface FakeGcsServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`, what the SDK's apiEndpoint (and WALNUT_GCS_ENDPOINT) takes. */
  readonly endpoint: string;
  readonly port: number;
  readonly directory: string;
  readonly statistics: FakeGcsStatistics;
  /** Names of the objects in a bucket, in listing order. */
  objectNames(bucket: string): string[];
  /** The file holding an object's bytes (tests corrupt it to check that reads are verified). */
  objectFile(bucket: string, name: string): string;
  /** Closes the listener and cuts every open connection at once, like a crash. */
  stop(): Promise<void>;
  /** Listens again on the same port, re-reading the objects from disk. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface FakeGcsOptions {
  /** Report objects without an MD5, as GCS does for composed objects (the kind WAL-G writes). */
  withoutMd5?: boolean;
}

export async function startFakeGcs(options: FakeGcsOptions = {}): Promise<FakeGcsServer> {
  const directory = makeTempDir({ prefix: 'walnut-fake-gcs-' });
  const objectsDirectory = join(directory, 'objects');
  const uploadsDirectory = join(directory, 'uploads');
  await mkdir(objectsDirectory);
  await mkdir(uploadsDirectory);

  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, UploadSession>();
  const statistics: FakeGcsStatistics = {
    multipartUploads: 0,
    resumableSessions: 0,
    resumableChunkRequests: 0,
    largestResumableChunk: 0,
    cancelledSessions: 0,
  };
  let generationCounter = 0;
  let server: Server | undefined;
  let port = 0;
  let cleaned = false;

  const bucketIndex = (bucket: string): Map<string, StoredObject> => {
    let index = buckets.get(bucket);
    if (index === undefined) {
      index = new Map();
      buckets.set(bucket, index);
    }
    return index;
  };

  const objectId = (bucket: string, name: string): string => createHash('sha256').update(`${bucket}\0${name}`).digest('hex');

  const nextGeneration = (): string => String(Date.now() * 1000 + (generationCounter++ % 1000));

  const loadIndex = async (): Promise<void> => {
    buckets.clear();
    for (const file of await readdir(objectsDirectory)) {
      if (!file.endsWith('.json')) continue;
      const stored = JSON.parse(await readFile(join(objectsDirectory, file), 'utf8')) as StoredObject;
      bucketIndex(stored.bucket).set(stored.name, stored);
    }
  };

  /** Makes `dataPath` the new generation of an object: bytes first, then the metadata that points at them. */
  const publish = async (
    bucket: string,
    name: string,
    dataPath: string,
    details: { size: number; md5Hash: string; crc32c: string; contentType: string; keySha256?: string; ifGenerationMatch?: string },
  ): Promise<StoredObject> => {
    const previous = bucketIndex(bucket).get(name);
    checkGenerationMatch(previous, details.ifGenerationMatch);
    const id = objectId(bucket, name);
    const generation = nextGeneration();
    const dataFile = `${id}-${generation}.data`;
    await rename(dataPath, join(objectsDirectory, dataFile));
    const now = new Date().toISOString();
    const stored: StoredObject = {
      bucket,
      name,
      generation,
      size: details.size,
      md5Hash: details.md5Hash,
      crc32c: details.crc32c,
      contentType: details.contentType,
      timeCreated: now,
      updated: now,
      dataFile,
      keySha256: details.keySha256,
    };
    const metadataPath = join(objectsDirectory, `${id}.json`);
    await writeFile(`${metadataPath}.tmp`, JSON.stringify(stored));
    await rename(`${metadataPath}.tmp`, metadataPath);
    bucketIndex(bucket).set(name, stored);
    // Readers that opened the old generation keep their file descriptor; the name can go.
    if (previous !== undefined) await unlink(join(objectsDirectory, previous.dataFile)).catch(() => {});
    return stored;
  };

  const lookup = (bucket: string, name: string, generation: string | null): StoredObject => {
    const stored = bucketIndex(bucket).get(name);
    if (stored === undefined || (generation !== null && generation !== stored.generation)) {
      throw new HttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
    }
    return stored;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://fake-gcs');
    let path = url.pathname;
    let isUpload = false;
    if (path.startsWith('/upload/storage/v1/')) {
      isUpload = true;
      path = path.slice('/upload/storage/v1'.length);
    } else if (path.startsWith('/download/storage/v1/')) {
      path = path.slice('/download/storage/v1'.length);
    } else if (path.startsWith('/storage/v1/')) {
      path = path.slice('/storage/v1'.length);
    }
    const segments = path.split('/').slice(1).map((segment) => decodeURIComponent(segment));
    const method = request.method ?? 'GET';
    if (segments[0] !== 'b' || segments.length < 2) throw new HttpError(404, 'notFound', `unknown path ${url.pathname}`);
    const bucket = segments[1];

    if (segments.length === 2 && method === 'GET') return sendJson(response, 200, { kind: 'storage#bucket', name: bucket, id: bucket });
    if (segments[2] !== 'o') throw new HttpError(404, 'notFound', `unknown path ${url.pathname}`);

    if (isUpload) {
      if (method === 'POST' && segments.length === 3) return startUpload(request, response, url, bucket);
      if (method === 'PUT' && url.searchParams.has('upload_id')) return continueUpload(request, response, url);
      if (method === 'DELETE' && url.searchParams.has('upload_id')) return cancelUpload(response, url);
      throw new HttpError(400, 'invalid', `unsupported upload request ${method} ${url.pathname}`);
    }
    if (segments.length === 3 && method === 'GET') return listObjects(response, url, bucket);
    const name = segments[3];
    if (segments.length === 4) {
      if (method === 'GET' && url.searchParams.get('alt') === 'media') return sendMedia(request, response, url, bucket, name);
      if (method === 'GET') {
        return sendJson(response, 200, describe(lookup(bucket, name, url.searchParams.get('generation'))));
      }
      if (method === 'DELETE') {
        const stored = lookup(bucket, name, url.searchParams.get('generation'));
        await unlink(join(objectsDirectory, `${objectId(bucket, name)}.json`));
        bucketIndex(bucket).delete(name);
        await unlink(join(objectsDirectory, stored.dataFile)).catch(() => {});
        response.writeHead(204).end();
        return;
      }
    }
    // .../o/<source>/rewriteTo/b/<bucket>/o/<destination>
    const isCopy = segments[4] === 'rewriteTo' || segments[4] === 'copyTo';
    if (method === 'POST' && segments.length === 9 && isCopy && segments[5] === 'b' && segments[7] === 'o') {
      return copyObject(request, response, url, bucket, name, segments[6], segments[8], segments[4] === 'rewriteTo');
    }
    throw new HttpError(400, 'invalid', `unsupported request ${method} ${url.pathname}`);
  };

  const startUpload = async (request: IncomingMessage, response: ServerResponse, url: URL, bucket: string): Promise<void> => {
    const uploadType = url.searchParams.get('uploadType');
    const keySha256 = headerText(request, 'x-goog-encryption-key-sha256');
    const ifGenerationMatch = url.searchParams.get('ifGenerationMatch') ?? undefined;
    if (uploadType === 'resumable') {
      const metadata = parseJsonObject((await readBody(request, 1024 * 1024)).toString('utf8'));
      const name = url.searchParams.get('name') ?? stringField(metadata, 'name');
      if (!name) throw new HttpError(400, 'required', 'Required parameter: name');
      checkGenerationMatch(bucketIndex(bucket).get(name), ifGenerationMatch);
      const id = createHash('sha256').update(`${Date.now()}-${Math.random()}-${name}`).digest('hex').slice(0, 32);
      const session: UploadSession = {
        id,
        bucket,
        name,
        contentType: headerText(request, 'x-upload-content-type') ?? stringField(metadata, 'contentType') ?? 'application/octet-stream',
        keySha256,
        ifGenerationMatch,
        received: 0,
        crc: 0,
        md5: createHash('md5'),
      };
      await writeFile(join(uploadsDirectory, id), '');
      sessions.set(id, session);
      statistics.resumableSessions++;
      const location = new URL(`${endpointOf()}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o`);
      location.searchParams.set('uploadType', 'resumable');
      location.searchParams.set('name', name);
      location.searchParams.set('upload_id', id);
      response.writeHead(200, { location: location.href, 'content-length': '0' }).end();
      return;
    }
    if (uploadType === 'multipart' || uploadType === 'media') {
      const body = await readBody(request, MULTIPART_LIMIT);
      let metadata: Record<string, unknown> = {};
      let media = body;
      if (uploadType === 'multipart') ({ metadata, media } = parseMultipart(request, body));
      const name = url.searchParams.get('name') ?? stringField(metadata, 'name');
      if (!name) throw new HttpError(400, 'required', 'Required parameter: name');
      statistics.multipartUploads++;
      const dataPath = join(uploadsDirectory, `direct-${objectId(bucket, name)}-${nextGeneration()}`);
      await writeFile(dataPath, media);
      const stored = await publish(bucket, name, dataPath, {
        size: media.length,
        md5Hash: createHash('md5').update(media).digest('base64'),
        crc32c: crc32cBase64(crc32cUpdate(0, media)),
        contentType: stringField(metadata, 'contentType') ?? 'application/octet-stream',
        keySha256,
        ifGenerationMatch,
      }).catch(async (error: unknown) => {
        await unlink(dataPath).catch(() => {});
        throw error;
      });
      return sendJson(response, 200, describe(stored));
    }
    throw new HttpError(400, 'invalid', `unsupported uploadType ${uploadType}`);
  };

  const continueUpload = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> => {
    const session = sessions.get(url.searchParams.get('upload_id') ?? '');
    if (session === undefined) throw new HttpError(404, 'notFound', 'No such upload session');
    const range = parseContentRange(headerText(request, 'content-range'));
    const dataPath = join(uploadsDirectory, session.id);

    if (range.first !== undefined) {
      if (range.first > session.received) {
        throw new HttpError(400, 'invalid', `chunk starts at ${range.first} but only ${session.received} bytes were received`);
      }
      // Bytes the server has already (a client resending after a lost reply) are skipped, as GCS does.
      let skip = session.received - range.first;
      const md5 = session.md5.copy();
      let crc = session.crc;
      let accepted = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          let piece = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
          }
          if (piece.length > 0) {
            md5.update(piece);
            crc = crc32cUpdate(crc, piece);
            accepted += piece.length;
          }
          done(null, piece);
        },
      });
      try {
        await pipeline(request, counter, createWriteStream(dataPath, { flags: 'r+', start: session.received }));
      } catch (error) {
        // A request cut short counts for nothing: the client asks for the offset and sends again.
        await truncate(dataPath, session.received).catch(() => {});
        throw error;
      }
      statistics.resumableChunkRequests++;
      statistics.largestResumableChunk = Math.max(statistics.largestResumableChunk, accepted);
      session.received += accepted;
      session.md5 = md5;
      session.crc = crc;
    } else {
      await readBody(request, 0);
    }

    const total = range.total ?? (range.openEnded ? session.received : undefined);
    if (total === undefined || session.received < total) {
      const headers: Record<string, string> = { 'content-length': '0' };
      if (session.received > 0) headers.range = `bytes=0-${session.received - 1}`;
      response.writeHead(308, headers).end();
      return;
    }
    if (session.received > total) throw new HttpError(400, 'invalid', `received ${session.received} bytes, more than the ${total} announced`);
    sessions.delete(session.id);
    const md5Hash = session.md5.digest('base64');
    // Like GCS: a checksum sent with the last piece must match, or no object is made.
    const claimed = parseGoogHash(headerText(request, 'x-goog-hash'));
    if ((claimed.md5 !== undefined && claimed.md5 !== md5Hash) || (claimed.crc32c !== undefined && claimed.crc32c !== crc32cBase64(session.crc))) {
      await unlink(dataPath).catch(() => {});
      throw new HttpError(400, 'invalid', 'Provided MD5 hash or CRC32C does not match the calculated one.');
    }
    const stored = await publish(session.bucket, session.name, dataPath, {
      size: session.received,
      md5Hash,
      crc32c: crc32cBase64(session.crc),
      contentType: session.contentType,
      keySha256: session.keySha256,
      ifGenerationMatch: session.ifGenerationMatch,
    }).catch(async (error: unknown) => {
      await unlink(dataPath).catch(() => {});
      throw error;
    });
    sendJson(response, 200, describe(stored));
  };

  /** A cancelled session is gone with its bytes; GCS answers 499. */
  const cancelUpload = async (response: ServerResponse, url: URL): Promise<void> => {
    const id = url.searchParams.get('upload_id') ?? '';
    if (!sessions.delete(id)) throw new HttpError(404, 'notFound', 'No such upload session');
    await unlink(join(uploadsDirectory, id)).catch(() => {});
    statistics.cancelledSessions++;
    response.writeHead(499, { 'content-length': '0' }).end();
  };

  const sendMedia = async (request: IncomingMessage, response: ServerResponse, url: URL, bucket: string, name: string): Promise<void> => {
    const stored = lookup(bucket, name, url.searchParams.get('generation'));
    checkCustomerKey(stored, headerText(request, 'x-goog-encryption-key-sha256'));
    // Open before answering, so a concurrent overwrite cannot swap the bytes under us.
    const source = createReadStream(join(objectsDirectory, stored.dataFile), { highWaterMark: 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      source.once('open', () => resolve());
      source.once('error', reject);
    }).catch(() => {
      throw new HttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
    });
    const headers: Record<string, string> = {
      'content-type': stored.contentType,
      'x-goog-generation': stored.generation,
      'x-goog-hash': options.withoutMd5 === true ? `crc32c=${stored.crc32c}` : `crc32c=${stored.crc32c},md5=${stored.md5Hash}`,
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(stored.size),
      etag: `"${stored.md5Hash}"`,
    };
    const range = parseRange(headerText(request, 'range'), stored.size);
    if (range === 'unsatisfiable') {
      source.destroy();
      throw new HttpError(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.');
    }
    let body = source;
    if (range === undefined) {
      response.writeHead(200, { ...headers, 'content-length': String(stored.size) });
    } else {
      source.destroy();
      body = createReadStream(join(objectsDirectory, stored.dataFile), { start: range.start, end: range.end, highWaterMark: 1024 * 1024 });
      response.writeHead(206, {
        ...headers,
        'content-length': String(range.end - range.start + 1),
        'content-range': `bytes ${range.start}-${range.end}/${stored.size}`,
      });
    }
    await pipeline(body, response);
  };

  const listObjects = (response: ServerResponse, url: URL, bucket: string): void => {
    const prefix = url.searchParams.get('prefix') ?? '';
    const delimiter = url.searchParams.get('delimiter') ?? '';
    const pageSize = Math.max(1, Math.min(Number(url.searchParams.get('maxResults') ?? DEFAULT_PAGE_SIZE) || DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE));
    const pageToken = url.searchParams.get('pageToken');
    const after = pageToken ? Buffer.from(pageToken, 'base64url').toString('utf8') : undefined;

    // Objects and prefixes in one ordered run, each prefix once; the page token is the last name handed out.
    const entries: { name: string; stored?: StoredObject }[] = [];
    let lastPrefix: string | undefined;
    for (const name of sortedNames(bucket)) {
      if (!name.startsWith(prefix)) continue;
      const cut = delimiter === '' ? -1 : name.indexOf(delimiter, prefix.length);
      if (cut >= 0) {
        const folder = name.slice(0, cut + delimiter.length);
        if (folder !== lastPrefix) entries.push({ name: folder });
        lastPrefix = folder;
      } else {
        entries.push({ name, stored: bucketIndex(bucket).get(name) });
      }
    }
    const start = after === undefined ? 0 : entries.findIndex((entry) => Buffer.compare(Buffer.from(entry.name), Buffer.from(after)) > 0);
    const page = start < 0 ? [] : entries.slice(start, start + pageSize);
    const more = start >= 0 && start + pageSize < entries.length;
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    const items = page.filter((entry) => entry.stored !== undefined).map((entry) => describe(entry.stored!));
    const prefixes = page.filter((entry) => entry.stored === undefined).map((entry) => entry.name);
    if (items.length > 0) body.items = items;
    if (prefixes.length > 0) body.prefixes = prefixes;
    if (more) body.nextPageToken = Buffer.from(page.at(-1)!.name).toString('base64url');
    sendJson(response, 200, body);
  };

  const copyObject = async (
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    sourceBucket: string,
    sourceName: string,
    destinationBucket: string,
    destinationName: string,
    isRewrite: boolean,
  ): Promise<void> => {
    await readBody(request, 1024 * 1024);
    const source = lookup(sourceBucket, sourceName, url.searchParams.get('sourceGeneration'));
    checkCustomerKey(source, headerText(request, 'x-goog-copy-source-encryption-key-sha256'));
    const dataPath = join(uploadsDirectory, `copy-${objectId(destinationBucket, destinationName)}-${nextGeneration()}`);
    await copyFile(join(objectsDirectory, source.dataFile), dataPath);
    const stored = await publish(destinationBucket, destinationName, dataPath, {
      size: source.size,
      md5Hash: source.md5Hash,
      crc32c: source.crc32c,
      contentType: source.contentType,
      keySha256: headerText(request, 'x-goog-encryption-key-sha256'),
      ifGenerationMatch: url.searchParams.get('ifGenerationMatch') ?? undefined,
    }).catch(async (error: unknown) => {
      await unlink(dataPath).catch(() => {});
      throw error;
    });
    if (!isRewrite) return sendJson(response, 200, describe(stored));
    sendJson(response, 200, {
      kind: 'storage#rewriteResponse',
      totalBytesRewritten: String(stored.size),
      objectSize: String(stored.size),
      done: true,
      resource: describe(stored),
    });
  };

  /** The JSON resource of an object, as this server is configured to show it. */
  const describe = (stored: StoredObject): Record<string, unknown> => {
    const body = resource(stored);
    if (options.withoutMd5 === true) delete body.md5Hash;
    return body;
  };

  const sortedNames = (bucket: string): string[] =>
    [...bucketIndex(bucket).keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

  const endpointOf = (): string => `http://127.0.0.1:${port}`;

  const listen = async (): Promise<void> => {
    const created = createServer((request, response) => {
      handle(request, response).catch((error: unknown) => {
        if (response.headersSent) {
          response.destroy();
          return;
        }
        if (error instanceof HttpError) {
          sendJson(response, error.status, {
            error: { code: error.status, message: error.message, errors: [{ reason: error.reason, message: error.message }] },
          });
          return;
        }
        // A request cut off by the client (or by stop()) needs no answer.
        if (request.destroyed || request.readableAborted) {
          response.destroy();
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        sendJson(response, 500, { error: { code: 500, message, errors: [{ reason: 'backendError', message }] } });
      });
    });
    await new Promise<void>((resolve, reject) => {
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => resolve());
    });
    port = (created.address() as AddressInfo).port;
    server = created;
  };

  const stop = async (): Promise<void> => {
    const running = server;
    if (running === undefined) return;
    server = undefined;
    const closed = new Promise<void>((resolve) => running.close(() => resolve()));
    running.closeAllConnections();
    await closed;
  };

  const unregister = registerExitCleanup(`stop fake GCS server in ${directory}`, () => {
    server?.closeAllConnections();
    server?.close();
  });

  await listen();
  const fake: FakeGcsServer = {
    get endpoint() {
      return endpointOf();
    },
    get port() {
      return port;
    },
    directory,
    statistics,
    objectNames: sortedNames,
    objectFile(bucket: string, name: string): string {
      return join(objectsDirectory, lookup(bucket, name, null).dataFile);
    },
    stop,
    async start() {
      if (server !== undefined) return;
      await loadIndex();
      await listen();
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await stop();
      unregister();
      removeTempDir(directory);
    },
    [Symbol.asyncDispose]() {
      return fake.cleanup();
    },
  };
  return fake;
}

/** The JSON resource GCS returns for an object. */
function resource(stored: StoredObject): Record<string, unknown> {
  const body: Record<string, unknown> = {
    kind: 'storage#object',
    id: `${stored.bucket}/${stored.name}/${stored.generation}`,
    name: stored.name,
    bucket: stored.bucket,
    generation: stored.generation,
    metageneration: '1',
    contentType: stored.contentType,
    storageClass: 'STANDARD',
    size: String(stored.size),
    md5Hash: stored.md5Hash,
    crc32c: stored.crc32c,
    etag: stored.md5Hash,
    timeCreated: stored.timeCreated,
    updated: stored.updated,
  };
  if (stored.keySha256 !== undefined) body.customerEncryption = { encryptionAlgorithm: 'AES256', keySha256: stored.keySha256 };
  return body;
}

function checkGenerationMatch(current: StoredObject | undefined, ifGenerationMatch: string | undefined): void {
  if (ifGenerationMatch === undefined) return;
  const currentGeneration = current?.generation ?? '0';
  if (currentGeneration !== ifGenerationMatch) {
    throw new HttpError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
  }
}

/** Reading an object needs exactly the key it was written with, as on GCS. */
function checkCustomerKey(stored: StoredObject, keySha256: string | undefined): void {
  if (stored.keySha256 === undefined && keySha256 !== undefined) {
    throw new HttpError(400, 'resourceNotEncryptedWithCustomerEncryptionKey', 'The target object is not encrypted by a customer-supplied encryption key.');
  }
  if (stored.keySha256 !== undefined && keySha256 === undefined) {
    throw new HttpError(400, 'resourceIsEncryptedWithCustomerEncryptionKey', 'The target object is encrypted by a customer-supplied encryption key.');
  }
  if (stored.keySha256 !== keySha256) {
    throw new HttpError(400, 'customerEncryptionKeySha256IsInvalid', 'The provided encryption key is incorrect.');
  }
}

function headerText(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function stringField(metadata: Record<string, unknown>, field: string): string | undefined {
  const value = metadata[field];
  return typeof value === 'string' ? value : undefined;
}

function parseJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const parsed: unknown = JSON.parse(text);
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(text)) });
  response.end(text);
}

/** The whole request body, refusing more than `limit` bytes. */
async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += (chunk as Buffer).length;
    if (length > limit) throw new HttpError(413, 'uploadTooLarge', `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** multipart/related: a JSON metadata part, then the media part. */
function parseMultipart(request: IncomingMessage, body: Buffer): { metadata: Record<string, unknown>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/i.exec(headerText(request, 'content-type') ?? '')?.[1];
  if (boundary === undefined) throw new HttpError(400, 'invalid', 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let position = body.indexOf(delimiter);
  while (position >= 0) {
    const next = body.indexOf(delimiter, position + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(position + delimiter.length, next));
    position = next;
  }
  const contents = parts.map((part) => {
    const headerEnd = part.indexOf('\r\n\r\n');
    // Each part is "\r\n<headers>\r\n\r\n<content>\r\n".
    return part.subarray(headerEnd + 4, part.length - 2);
  });
  if (contents.length < 2) throw new HttpError(400, 'invalid', 'multipart upload needs a metadata and a media part');
  return { metadata: parseJsonObject(contents[0].toString('utf8')), media: contents[1] };
}

/** `x-goog-hash: crc32c=...,md5=...` as a map. */
function parseGoogHash(header: string | undefined): { md5?: string; crc32c?: string } {
  const hashes: { md5?: string; crc32c?: string } = {};
  for (const part of (header ?? '').split(',')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    const kind = part.slice(0, at).trim();
    if (kind === 'md5' || kind === 'crc32c') hashes[kind] = part.slice(at + 1).trim();
  }
  return hashes;
}

/** Content-Range of a resumable PUT: `bytes a-b/total`, `bytes a-b/*`, `bytes * /total`, `bytes a-* /total`. */
function parseContentRange(header: string | undefined): { first?: number; total?: number; openEnded: boolean } {
  if (header === undefined) return { first: 0, openEnded: true };
  const match = /^bytes (\*|(\d+)-(-?\d+|\*))\/(\*|\d+)$/.exec(header.trim());
  if (match === null) throw new HttpError(400, 'invalid', `bad Content-Range ${header}`);
  const total = match[4] === '*' ? undefined : Number(match[4]);
  if (match[1] === '*') return { total, openEnded: false };
  return { first: Number(match[2]), total, openEnded: match[3] === '*' };
}

/** A media Range header against an object of `size` bytes; undefined means the whole object. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  if (start >= size) return 'unsatisfiable';
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return { start, end };
}

