// The gob subset of catchup-send/receive: Go's own documented encoding of Point{22, 33}, WAL-G's messages round
// trip, time.Time's binary form, and the decoder's refusals of damaged input.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { encodeInt, encodeUint, GobDecoder, GobEncoder, GobError, GobMessageReader, type GobType } from '../../src/catchup/gob.ts';
import {
  BACKUP_FILE_LIST,
  BYTES,
  CATCHUP_COMMAND,
  commandFromGob,
  commandToGob,
  decodeGoTime,
  encodeGoTime,
  fileListFromGob,
  fileListToGob,
  PG_CONTROL_DATA,
  pgControlFromGob,
  pgControlToGob,
} from '../../src/catchup/messages.ts';

const POINT: GobType = { kind: 'struct', name: 'Point', fields: [{ name: 'X', type: { kind: 'int' } }, { name: 'Y', type: { kind: 'int' } }] };
// encoding/gob's package documentation: the stream Go writes for Point{22, 33}.
const GO_POINT = Buffer.from(
  '1fff810301010550 6f696e7401ff8200 0102010158010400 0101590104000000 07ff82012c014200'.replace(/ /g, ''),
  'hex',
);

async function decodeAll(bytes: Buffer, chunkSize = 3): Promise<unknown[]> {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunkSize) chunks.push(bytes.subarray(offset, offset + chunkSize));
  const reader = new GobMessageReader(Readable.from(chunks));
  const decoder = new GobDecoder();
  const values: unknown[] = [];
  for (let message = await reader.next(); message !== undefined; message = await reader.next()) {
    const decoded = decoder.decodeMessage(message);
    if (decoded !== undefined) values.push(decoded.value);
  }
  return values;
}

test('gob integers use Go encoding: small in one byte, larger as negated byte count then big-endian bytes', () => {
  const out: number[] = [];
  encodeUint(7, out);
  encodeUint(256, out);
  encodeInt(-1, out);
  encodeInt(22, out);
  encodeUint(0xffffffffffffffffn, out);
  assert.deepEqual(Buffer.from(out).toString('hex'), '07fe010001' + '2c' + 'f8ffffffffffffffff');
});

test('encoding Point{22, 33} gives the bytes of encoding/gob\'s documentation', () => {
  const encoder = new GobEncoder();
  assert.equal(encoder.encode(POINT, { X: 22n, Y: 33n }).toString('hex'), GO_POINT.toString('hex'));
  // The second value reuses the definition: only the value message.
  assert.equal(encoder.encode(POINT, { X: 22n, Y: 33n }).toString('hex'), '07ff82012c014200');
});

test('decoding Go\'s Point stream split into 3-byte pieces gives X=22, Y=33', async () => {
  assert.deepEqual(await decodeAll(GO_POINT), [{ X: 22n, Y: 33n }]);
});

test('a top-level []byte is a singleton: type id 5, delta 0, length, bytes', async () => {
  const bytes = new GobEncoder().encode(BYTES, Buffer.from([1, 2, 3]));
  assert.equal(bytes.toString('hex'), '060a0003010203');
  assert.deepEqual(await decodeAll(bytes), [Buffer.from([1, 2, 3])]);
});

test('PgControlData, the file list and every CatchupCommandDto field round trip', async () => {
  const encoder = new GobEncoder();
  const control = { systemIdentifier: 7_412_345_678_901_234_567n, currentTimeline: 3, checkpoint: 0x1_0000_0028n };
  const files = new Map([
    ['base/5/16384', 1_700_000_000_123_456_789n],
    ['global', 1_600_000_000_000_000_000n],
  ]);
  const command = {
    isIncremental: true,
    fileSize: 123_456n,
    fileName: 'base/5/16384',
    binaryContents: Buffer.from('label'),
    filesToDelete: ['base/5/1', 'base/5'],
  };
  const stream = Buffer.concat([
    encoder.encode(PG_CONTROL_DATA, pgControlToGob(control)),
    encoder.encode(BACKUP_FILE_LIST, fileListToGob(files)),
    encoder.encode(CATCHUP_COMMAND, commandToGob(command)),
    encoder.encode(CATCHUP_COMMAND, commandToGob({ isDone: true })),
  ]);
  const [decodedControl, decodedFiles, decodedCommand, done] = await decodeAll(stream, 5);
  assert.deepEqual(pgControlFromGob(decodedControl as never), control);
  assert.deepEqual(fileListFromGob(decodedFiles as never), files);
  const back = commandFromGob(decodedCommand as never);
  assert.equal(back.isIncremental, true);
  assert.equal(back.isFull, false);
  assert.equal(back.fileSize, 123_456n);
  assert.equal(back.fileName, 'base/5/16384');
  assert.deepEqual(back.binaryContents, Buffer.from('label'));
  assert.deepEqual(back.filesToDelete, ['base/5/1', 'base/5']);
  assert.equal(commandFromGob(done as never).isDone, true);
});

test('time.Time MarshalBinary form: version 1, seconds since year 1, nanoseconds, UTC offset -1', () => {
  const epoch = encodeGoTime(0n);
  assert.equal(epoch.toString('hex'), '01' + '0000000e7791f700' + '00000000' + 'ffff');
  assert.equal(decodeGoTime(encodeGoTime(1_700_000_000_987_654_321n)), 1_700_000_000_987_654_321n);
  assert.equal(decodeGoTime(encodeGoTime(-1_500_000_000n)), -1_500_000_000n);
  // Version 2 (an offset with seconds) reads the same instant.
  const version2 = Buffer.concat([epoch, Buffer.from([0])]);
  version2[0] = 2;
  assert.equal(decodeGoTime(version2), 0n);
});

test('damaged gob input fails with a gob error, not a crash', async () => {
  const decoder = new GobDecoder();
  assert.throws(() => decoder.decodeMessage(Buffer.from('ff8a00', 'hex')), GobError); // value of an undefined type id
  assert.throws(() => decoder.decodeMessage(Buffer.from('0a0105', 'hex')), /non-zero delta for singleton/);
  assert.throws(() => decoder.decodeMessage(Buffer.from('0a0009', 'hex')), /exceeds the message/);
  await assert.rejects(decodeAll(GO_POINT.subarray(0, GO_POINT.length - 2)), /stream ended inside a message/);
});
