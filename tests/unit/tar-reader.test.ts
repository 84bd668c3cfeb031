// walnut's tar reader (src/backup/tar-reader.ts): the members Go's archive/tar would see, whatever pieces the
// decoded stream arrives in; PAX and GNU long names; clear errors for damaged or truncated tars; and parts of
// chunks shared by two members going back to their pool only once every part is given back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { readTarMembers, type TarMember } from '../../src/backup/tar-reader.ts';
import { ChunkSplitter, giveBack, RecyclingPool } from '../../src/stream/recycling-pool.ts';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';

interface Seen {
  readonly member: TarMember;
  readonly body: Buffer;
}

async function membersOf(chunks: readonly Buffer[], keepParts?: (part: Buffer) => void): Promise<Seen[]> {
  const seen: Seen[] = [];
  await readTarMembers(Readable.from(chunks), async (member, body) => {
    const parts: Buffer[] = [];
    for await (const part of body) {
      parts.push(Buffer.from(part));
      keepParts?.(part);
    }
    seen.push({ member, body: Buffer.concat(parts) });
  });
  return seen;
}

function inPieces(tar: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < tar.length; offset += size) pieces.push(tar.subarray(offset, offset + size));
  return pieces;
}

async function packed(entries: readonly { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: Buffer; linkname?: string; mode?: number }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const entry of entries) {
    const body = entry.body ?? Buffer.alloc(0);
    pack.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, mode: entry.mode ?? 0o600, size: body.length }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const longName = `base/16384/${'d'.repeat(120)}/${'f'.repeat(90)}`;
const entries = [
  { name: 'global/', type: 'directory' as const, mode: 0o700 },
  { name: '/base/1/1259', body: Buffer.alloc(3 * 8192 + 17, 7), mode: 0o600 },
  { name: 'empty', body: Buffer.alloc(0) },
  { name: longName, body: Buffer.from('a long name travels in a PAX header') },
  { name: 'pg_wal', type: 'symlink' as const, linkname: '../wal' },
  { name: '/base/1/1259_copy', type: 'link' as const, linkname: '/base/1/1259' },
  { name: 'odd', body: Buffer.alloc(511, 1), mode: 0o4755 },
];

test('every member and body comes out the same whatever pieces the tar arrives in', async () => {
  const tar = await packed(entries);
  const whole = await membersOf([tar]);
  assert.deepEqual(
    whole.map((seen) => [seen.member.name, seen.member.type, seen.member.size, seen.member.mode, seen.member.linkName]),
    [
      ['global/', 'directory', 0, 0o700, ''],
      ['/base/1/1259', 'file', 3 * 8192 + 17, 0o600, ''],
      ['empty', 'file', 0, 0o600, ''],
      [longName, 'file', 35, 0o600, ''],
      ['pg_wal', 'symlink', 0, 0o600, '../wal'],
      ['/base/1/1259_copy', 'link', 0, 0o600, '/base/1/1259'],
      ['odd', 'file', 511, 0o4755, ''],
    ],
  );
  assert.ok(whole[1].body.equals(Buffer.alloc(3 * 8192 + 17, 7)));
  assert.equal(whole[3].body.toString(), 'a long name travels in a PAX header');
  for (const size of [1, 7, 511, 512, 513, 4096, 10_000]) {
    const pieces = await membersOf(inPieces(tar, size));
    assert.deepEqual(pieces, whole, `read in ${size}-byte pieces`);
  }
});

test('a handler that leaves a body unread, or reads part of it, does not disturb the next member', async () => {
  const tar = await packed(entries);
  const names: string[] = [];
  const firstBytes: number[] = [];
  await readTarMembers(Readable.from(inPieces(tar, 1000)), async (member, body) => {
    names.push(member.name);
    if (member.name === '/base/1/1259') {
      for await (const part of body) {
        firstBytes.push(part[0]);
        break;
      }
    }
  });
  assert.deepEqual(names, entries.map((entry) => entry.name));
  assert.deepEqual(firstBytes, [7]);
});

test('GNU long names and long link targets, as GNU tar writes them, are read', async (t) => {
  const dir = makeTempDir({ prefix: 'walnut-tar-gnu-' });
  t.after(() => removeTempDir(dir));
  const deep = `${'n'.repeat(100)}/${'m'.repeat(60)}`;
  mkdirSync(join(dir, 'src', 'n'.repeat(100)), { recursive: true });
  writeFileSync(join(dir, 'src', deep), 'gnu body');
  symlinkSync(`${'t'.repeat(150)}`, join(dir, 'src', 'link'));
  const tar = execFileSync('tar', ['--format=gnu', '-C', join(dir, 'src'), '-cf', '-', deep, 'link']);
  const seen = await membersOf(inPieces(tar, 300));
  assert.deepEqual(
    seen.map((item) => [item.member.name, item.member.type, item.member.linkName, item.body.toString()]),
    [
      [deep, 'file', '', 'gnu body'],
      ['link', 'symlink', 't'.repeat(150), ''],
    ],
  );
});

test('damaged and truncated tars fail with a message saying where', async () => {
  const tar = await packed(entries);
  const damaged = Buffer.from(tar);
  damaged[0] ^= 0xff;
  await assert.rejects(membersOf([damaged]), /archive\/tar: invalid tar header at byte 0 \(wrong checksum\); the tar part is damaged or not a tar/);
  await assert.rejects(membersOf([tar.subarray(0, 512 + 512 + 100)]), /unexpected EOF in a member body at byte 1124; the tar part is truncated/);
  await assert.rejects(membersOf([tar.subarray(0, 512 + 300)]), /unexpected EOF in a header at byte 812/);
  const afterOneZeroBlock = Buffer.concat([tar.subarray(0, 512), Buffer.alloc(512), tar.subarray(512, 1024)]);
  await assert.rejects(membersOf([afterOneZeroBlock]), /data after a zero block/);
  // A tar that simply stops between members (PostgreSQL's own tars before 15) is complete.
  const first = await packed(entries.slice(0, 1));
  assert.equal((await membersOf([first.subarray(0, 512)])).length, 1);
});

test('a pooled chunk cut between members goes back to its pool only once every part is given back', async () => {
  const pool = new RecyclingPool(4096, 8);
  const tar = await packed([
    { name: 'a', body: Buffer.alloc(1000, 1) },
    { name: 'b', body: Buffer.alloc(5000, 2) },
    { name: 'c', body: Buffer.alloc(100, 3) },
  ]);
  const lent: Buffer[] = [];
  for (let offset = 0; offset < tar.length; offset += 4096) {
    const piece = tar.subarray(offset, offset + 4096);
    const { buffer } = pool.take(piece.length);
    piece.copy(buffer);
    lent.push(buffer);
  }
  const held: Buffer[] = [];
  const seen = await membersOf(lent, (part) => held.push(part));
  assert.deepEqual(seen.map((item) => item.body.length), [1000, 5000, 100]);
  assert.equal(pool.free, 1, 'the reader gives back the chunk of end-of-archive zeros; parts not given back keep the rest out');
  // The first chunk holds a's body, b's header and b's first bytes: it comes back with the last of its parts.
  const [aPart, bFirst] = held;
  assert.equal(aPart.buffer, lent[0].buffer);
  assert.equal(bFirst.buffer, lent[0].buffer);
  giveBack(aPart);
  giveBack(aPart);
  assert.equal(pool.free, 1, 'one part given back (twice) is not the whole chunk');
  giveBack(lent[0]);
  assert.equal(pool.free, 1, 'the whole of a cut chunk is not given back by its owner');
  giveBack(bFirst);
  assert.equal(pool.free, 2, 'the last part brings the chunk back');
  for (const part of held.slice(2)) giveBack(part);
  assert.equal(pool.free, lent.length);
});

test('a splitter still in its chunk keeps it out of the pool after every part is back', () => {
  const pool = new RecyclingPool(64, 2);
  const { buffer } = pool.take(64);
  const splitter = new ChunkSplitter();
  const part = splitter.part(buffer, 0, 10);
  giveBack(part);
  assert.equal(pool.free, 0);
  splitter.release();
  assert.equal(pool.free, 1);
  splitter.release();
  assert.equal(pool.free, 1, 'released once');
  const plain = Buffer.alloc(64);
  giveBack(splitter.part(plain, 0, 5));
  splitter.release();
  assert.equal(pool.free, 1, 'parts of chunks no pool lent are ordinary views');
});
