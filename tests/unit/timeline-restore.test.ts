// wal-restore end to end on synthetic data directories (pg_control, pg_wal, history files) and an in-memory
// storage: it downloads exactly the source segments missing since the divergence, and refuses unrelated clusters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Folder } from '../../src/storage/driver.ts';
import { MemoryStorageDriver } from '../../src/storage/memory.ts';
import { lz4Codec } from '../../src/compression/lz4.ts';
import { uploadStream } from '../../src/objects/transfer.ts';
import { readPgControl, restoreWalForRewind } from '../../src/timeline/wal-restore.ts';
import { WalgError } from '../../src/errors.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const MiB16 = 16 * 1024 * 1024;

function dataDirectory(systemIdentifier: bigint, timeline: number, walFiles: Record<string, string>): string {
  const root = makeTempDir();
  mkdirSync(join(root, 'global'));
  mkdirSync(join(root, 'pg_wal'));
  const control = Buffer.alloc(8192);
  control.writeBigUInt64LE(systemIdentifier, 0);
  control.writeUInt32LE(1300, 8); // pg_control_version of PG 13+
  control.writeBigUInt64LE(0x3000028n, 32);
  control.writeUInt32LE(timeline, 48);
  writeFileSync(join(root, 'global', 'pg_control'), control);
  for (const [name, body] of Object.entries(walFiles)) writeFileSync(join(root, 'pg_wal', name), body);
  return root;
}

function segment(timeline: number, number: number): string {
  return `${String(timeline).padStart(8, '0')}00000000${number.toString(16).toUpperCase().padStart(8, '0')}`;
}

test('pg_control gives the 64-bit system identifier and the checkpoint timeline', () => {
  const directory = dataDirectory(7711495078079548915n, 3, {});
  assert.deepEqual(readPgControl(directory), { systemIdentifier: 7711495078079548915n, currentTimeline: 3, checkpoint: 0x3000028n });
});

test('wal-restore downloads the source segments missing between the divergence point and its newest segment', async () => {
  const history = '1\t0/3000100\tno recovery target specified\n';
  // Target stayed on timeline 1; source was promoted to timeline 2 at 0/3000100 and has segments 3 and 6 locally.
  const target = dataDirectory(42n, 1, { [segment(1, 3)]: 'a' });
  const source = dataDirectory(42n, 2, { '00000002.history': history, [segment(2, 3)]: 'b', [segment(2, 6)]: 'c' });
  const walFolder = new Folder(new MemoryStorageDriver());
  for (const number of [4, 5]) {
    await uploadStream(walFolder, `${segment(2, number)}.lz4`, Readable.from([Buffer.from(`segment ${number}`)]), { codec: lz4Codec });
  }
  await restoreWalForRewind({ targetDataDirectory: target, sourceDataDirectory: source, walFolder, crypter: undefined, segmentSize: MiB16 });
  assert.deepEqual(readdirSync(join(source, 'pg_wal')).sort(), ['00000002.history', segment(2, 3), segment(2, 4), segment(2, 5), segment(2, 6)]);
  assert.equal(readFileSync(join(source, 'pg_wal', segment(2, 5)), 'utf8'), 'segment 5');
});

test('wal-restore refuses clusters with different system identifiers or the same timeline', async () => {
  const walFolder = new Folder(new MemoryStorageDriver());
  const options = { walFolder, crypter: undefined, segmentSize: MiB16 };
  await assert.rejects(
    restoreWalForRewind({ ...options, targetDataDirectory: dataDirectory(1n, 1, {}), sourceDataDirectory: dataDirectory(2n, 2, {}) }),
    (error: unknown) => error instanceof WalgError && error.message === 'System identifiers of target and source clusters are not equal',
  );
  await assert.rejects(
    restoreWalForRewind({ ...options, targetDataDirectory: dataDirectory(1n, 2, {}), sourceDataDirectory: dataDirectory(1n, 2, {}) }),
    /Latest checkpoint timelines of target and source clusters are equal/,
  );
});
