// The daemon's wire format: frames, argument lists and answers, checked against the bytes format.md §8 spells out.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeArguments,
  encodeArguments,
  encodeRequest,
  MESSAGE_TYPE,
  ProtocolError,
  RequestFrameReader,
} from '../../src/wal/daemon-protocol.ts';

const SEGMENT = '000000010000000000000001';

describe('daemon protocol', () => {
  test('a push request is F, the u16 big-endian total length, then the raw file name', () => {
    const frame = encodeRequest(MESSAGE_TYPE.walPush, [SEGMENT]);
    assert.deepEqual([...frame.subarray(0, 3)], [0x46, 0x00, 0x1b]);
    assert.equal(frame.subarray(3).toString(), SEGMENT);
    assert.equal(frame.length, 27);
  });

  test('a fetch request carries a counted list of u16-length-prefixed arguments', () => {
    const frame = encodeRequest(MESSAGE_TYPE.walFetch, [SEGMENT, 'pg_wal/RECOVERYXLOG']);
    const expected = Buffer.concat([
      Buffer.from([0x66, 0x00, 0x33, 0x02, 0x00, 0x18]),
      Buffer.from(SEGMENT),
      Buffer.from([0x00, 0x13]),
      Buffer.from('pg_wal/RECOVERYXLOG'),
    ]);
    assert.deepEqual(frame, expected);
  });

  test('a check request without arguments is the bare three-byte header', () => {
    assert.deepEqual([...encodeRequest(MESSAGE_TYPE.check, [])], [0x43, 0x00, 0x03]);
  });

  test('argument lists round-trip, lengths counted in UTF-8 bytes', () => {
    const args = ['00000002.history', '/data/pg_wal/é', 'x'];
    const encoded = encodeArguments(args);
    assert.equal(encoded.readUInt16BE(1 + 2 + 16 + 0), 15);
    assert.deepEqual(decodeArguments(encoded), args);
  });

  test('decoding refuses an empty last argument, trailing bytes, truncation and an empty body', () => {
    assert.throws(() => decodeArguments(Buffer.from([1, 0, 0])), /currepted message body/);
    assert.throws(() => decodeArguments(Buffer.concat([encodeArguments(['a']), Buffer.from([9])])), /currepted message body/);
    assert.throws(() => decodeArguments(Buffer.from([1, 0, 5, 0x61])), /currepted message body/);
    assert.throws(() => decodeArguments(Buffer.alloc(0)), ProtocolError);
    assert.deepEqual(decodeArguments(Buffer.from([0])), []);
  });

  test('encoding refuses more than 255 arguments and oversized bodies as WAL-G does', () => {
    assert.throws(() => encodeArguments(new Array(256).fill('a')), /unsupported args count/);
    assert.throws(() => encodeArguments(['a'.repeat(65536)]), /unsupported arg size/);
    assert.throws(() => encodeArguments(['a'.repeat(65000), 'b'.repeat(1000)]), /unsupported total args size/);
    assert.throws(() => encodeRequest(MESSAGE_TYPE.walPush, ['a'.repeat(65533)]), /message too long/);
  });

  test('the frame reader cuts frames at their length, across chunk boundaries, keeping the rest queued', () => {
    const reader = new RequestFrameReader();
    const stream = Buffer.concat([encodeRequest(MESSAGE_TYPE.check, []), Buffer.from([0x43, 0, 8]), Buffer.from('CHECK'), encodeRequest(MESSAGE_TYPE.walPush, [SEGMENT])]);
    const frames = [...reader.push(stream.subarray(0, 5)), ...reader.push(stream.subarray(5, 20))];
    assert.deepEqual(
      frames.map((frame) => [frame.type, frame.body.toString()]),
      [
        [MESSAGE_TYPE.check, ''],
        [MESSAGE_TYPE.check, 'CHECK'],
      ],
    );
    assert.equal(reader.pendingBytes, 9);
    const rest = reader.push(stream.subarray(20));
    assert.equal(rest.length, 1);
    assert.equal(rest[0].type, MESSAGE_TYPE.walPush);
    assert.equal(rest[0].body.toString(), SEGMENT);
    assert.equal(reader.pendingBytes, 0);
  });

  test('a length shorter than the header is a protocol error, not a wait for bytes that never come', () => {
    assert.throws(() => new RequestFrameReader().push(Buffer.from([0x46, 0, 2])), ProtocolError);
  });

  test('answers are the single bytes O, E and N', () => {
    assert.equal(String.fromCharCode(MESSAGE_TYPE.ok, MESSAGE_TYPE.error, MESSAGE_TYPE.notFound), 'OEN');
  });
});
