// Small WAL test fixtures: fake segments with a valid page magic, a pg_wal layout with archive_status, a pusher
// over in-memory storage, and captured log lines.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { configureLogging } from '../../src/log/logger.ts';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { DiskArchiveStatusMarkers, markerFolderOf, PostgresArchiveStatus } from '../../src/wal/archive-status.ts';
import { WalPusher, type WalPusherOptions } from '../../src/wal/push.ts';
import { makeTempDir } from './tmp.ts';

/** 1 MiB segments keep tests fast (initdb --wal-segsize=1 makes the same). */
export const SMALL_SEGMENT = 1024 * 1024;

/** Bytes that pass wal-fetch's magic check (0xD061 little-endian first), the rest random. */
export function fakeSegment(size = SMALL_SEGMENT): Buffer {
  const data = randomBytes(size);
  data.writeUInt32LE(0xd061 + 0x10000 * 2, 0);
  return data;
}

/** A data directory with pg_wal/archive_status, as PostgreSQL lays it out. */
export function makeWalDirectory(): { dataDir: string; walDir: string; statusDir: string } {
  const dataDir = makeTempDir({ prefix: 'walnut-wal-' });
  const walDir = join(dataDir, 'pg_wal');
  const statusDir = join(walDir, 'archive_status');
  mkdirSync(statusDir, { recursive: true });
  return { dataDir, walDir, statusDir };
}

/** Writes a segment file, optionally with its `.ready` status file; returns its bytes. */
export function writeSegment(walDir: string, name: string, options: { ready?: boolean; data?: Buffer } = {}): Buffer {
  const data = options.data ?? fakeSegment();
  writeFileSync(join(walDir, name), data);
  if (options.ready) writeFileSync(join(walDir, 'archive_status', `${name}.ready`), '');
  return data;
}

export interface TestPusher {
  readonly pusher: WalPusher;
  readonly driver: MemoryStorageDriver;
  readonly root: Folder;
}

/** A pusher over in-memory storage with lz4, markers under the given WAL folder, and WAL-G's defaults. */
export function makeTestPusher(walDir: string, overrides: Partial<WalPusherOptions> = {}, driver = new MemoryStorageDriver()): TestPusher {
  const markerDir = markerFolderOf(walDir);
  mkdirSync(markerDir, { recursive: true });
  const root = new Folder(driver);
  const pusher = new WalPusher({
    root,
    codec: lz4Codec,
    crypter: undefined,
    markers: new DiskArchiveStatusMarkers(markerDir),
    postgresArchiveStatus: new PostgresArchiveStatus(walDir),
    preventOverwrite: false,
    readyRename: false,
    metadataLevel: 'NOMETADATA',
    uploadConcurrency: () => 16,
    totalBackgroundLimit: 32,
    segmentSize: SMALL_SEGMENT,
    walDelta: undefined,
    ...overrides,
  });
  return { pusher, driver, root };
}

/** Decodes a stored lz4 object back to plain bytes. */
export async function storedPlainBytes(driver: MemoryStorageDriver, key: string): Promise<Buffer> {
  const stored = driver.objects.get(key);
  if (stored === undefined) throw new Error(`no object ${key}; have ${[...driver.objects.keys()].join(', ')}`);
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from([stored.data]).pipe(lz4Codec.decompressor())) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Sends log lines to a file for the duration of a test; returns a reader of what was logged. */
export function captureLog(t: { after(fn: () => void): void }, level = 'NORMAL'): () => string {
  const path = join(makeTempDir({ prefix: 'walnut-log-' }), 'walg.log');
  writeFileSync(path, '');
  configureLogging(level, path);
  t.after(() => configureLogging('NORMAL', undefined));
  return () => readFileSync(path, 'utf8');
}
