// The subset of Go's encoding/gob that WAL-G's catchup-send/receive speak: length-framed messages, type
// definitions (struct, map, slice, array, GobEncoder), and values of bool, integers, strings, byte slices.

import { WalgError } from '../errors.ts';

/** A schema for values we encode; decoded values follow the sender's wire types instead. */
export type GobType =
  | { readonly kind: 'bool' | 'int' | 'uint' | 'string' | 'bytes' }
  | { readonly kind: 'struct'; readonly name: string; readonly fields: readonly { readonly name: string; readonly type: GobType }[] }
  | { readonly kind: 'map'; readonly name: string; readonly key: GobType; readonly elem: GobType }
  | { readonly kind: 'slice'; readonly name: string; readonly elem: GobType }
  | { readonly kind: 'gobEncoder'; readonly name: string };

/** Decoded values: structs as records by field name, maps as Map, integers as bigint, GobEncoder payloads as bytes. */
export type GobValue = boolean | bigint | number | string | Buffer | GobValue[] | Map<GobValue, GobValue> | { [field: string]: GobValue };

export class GobError extends WalgError {
  constructor(message: string) {
    super(`gob: ${message}`);
    this.name = 'GobError';
  }
}

// Go's predefined type ids.
const T_BOOL = 1;
const T_INT = 2;
const T_UINT = 3;
const T_FLOAT = 4;
const T_BYTES = 5;
const T_STRING = 6;
const FIRST_USER_ID = 65;

// ---------------------------------------------------------------------------------------------------------
// Primitive encoding

export function encodeUint(value: bigint | number, out: number[]): void {
  let rest = BigInt(value);
  if (rest < 0x80n) {
    out.push(Number(rest));
    return;
  }
  const bytes: number[] = [];
  while (rest > 0n) {
    bytes.unshift(Number(rest & 0xffn));
    rest >>= 8n;
  }
  out.push(256 - bytes.length, ...bytes);
}

export function encodeInt(value: bigint | number, out: number[]): void {
  const signed = BigInt(value);
  encodeUint(signed < 0n ? ((~signed) << 1n) | 1n : signed << 1n, out);
}

function encodeBytes(bytes: Uint8Array, out: number[]): void {
  encodeUint(bytes.length, out);
  for (const byte of bytes) out.push(byte);
}

/** Reads primitives from one message. */
class MessageCursor {
  #bytes: Buffer;
  #offset = 0;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  get done(): boolean {
    return this.#offset >= this.#bytes.length;
  }
  uint(): bigint {
    if (this.done) throw new GobError('unexpected end of message');
    const first = this.#bytes[this.#offset++];
    if (first < 0x80) return BigInt(first);
    const count = 256 - first;
    if (count > 8 || this.#offset + count > this.#bytes.length) throw new GobError('invalid unsigned integer');
    let value = 0n;
    for (let index = 0; index < count; index++) value = (value << 8n) | BigInt(this.#bytes[this.#offset++]);
    return value;
  }
  int(): bigint {
    const raw = this.uint();
    return (raw & 1n) === 1n ? ~(raw >> 1n) : raw >> 1n;
  }
  count(): number {
    const value = this.uint();
    if (value > BigInt(this.#bytes.length - this.#offset)) throw new GobError('length exceeds the message');
    return Number(value);
  }
  bytes(): Buffer {
    const length = this.count();
    if (this.#offset + length > this.#bytes.length) throw new GobError('byte slice exceeds the message');
    const slice = this.#bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return Buffer.from(slice);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoder

/** Writes gob messages for values of known schema; type definitions go out once, before first use. */
export class GobEncoder {
  readonly #ids = new Map<GobType, number>();
  #nextId = FIRST_USER_ID;

  /** The messages (each length-prefixed) that carry `value` of `type`, type definitions first. */
  encode(type: GobType, value: GobValue): Buffer {
    const messages: number[] = [];
    const typeId = this.#define(type, messages);
    const body: number[] = [];
    encodeInt(typeId, body);
    if (type.kind !== 'struct') body.push(0); // a top-level non-struct value is a singleton: field delta 0
    this.#value(type, value, body);
    encodeUint(body.length, messages);
    for (const byte of body) messages.push(byte);
    return Buffer.from(messages);
  }

  #idOf(type: GobType): number {
    switch (type.kind) {
      case 'bool':
        return T_BOOL;
      case 'int':
        return T_INT;
      case 'uint':
        return T_UINT;
      case 'string':
        return T_STRING;
      case 'bytes':
        return T_BYTES;
      default: {
        const id = this.#ids.get(type);
        if (id === undefined) throw new GobError(`type ${type.name} used before its definition`);
        return id;
      }
    }
  }

  /** Sends the definitions `type` needs (components first) into `out`; returns its id. */
  #define(type: GobType, out: number[]): number {
    if (type.kind === 'bool' || type.kind === 'int' || type.kind === 'uint' || type.kind === 'string' || type.kind === 'bytes') return this.#idOf(type);
    const known = this.#ids.get(type);
    if (known !== undefined) return known;
    const id = this.#nextId++;
    this.#ids.set(type, id);
    if (type.kind === 'struct') for (const field of type.fields) this.#define(field.type, out);
    if (type.kind === 'map') {
      this.#define(type.key, out);
      this.#define(type.elem, out);
    }
    if (type.kind === 'slice') this.#define(type.elem, out);
    // wireType: ArrayT=0 SliceT=1 StructT=2 MapT=3 GobEncoderT=4; each starts with CommonType{Name, Id}.
    const body: number[] = [];
    encodeInt(-id, body);
    const typeName = (type as { readonly name: string }).name;
    const common = (): void => {
      body.push(1); // field 0 of the inner type: CommonType
      body.push(1);
      encodeBytes(Buffer.from(typeName, 'utf8'), body);
      body.push(1);
      encodeInt(id, body);
      body.push(0);
    };
    switch (type.kind) {
      case 'slice':
        body.push(2); // field 1: SliceT
        common();
        body.push(1);
        encodeInt(this.#idOf(type.elem), body);
        body.push(0);
        break;
      case 'struct':
        body.push(3); // field 2: StructT
        common();
        body.push(1);
        encodeUint(type.fields.length, body);
        for (const field of type.fields) {
          body.push(1);
          encodeBytes(Buffer.from(field.name, 'utf8'), body);
          body.push(1);
          encodeInt(this.#idOf(field.type), body);
          body.push(0);
        }
        body.push(0);
        break;
      case 'map':
        body.push(4); // field 3: MapT
        common();
        body.push(1);
        encodeInt(this.#idOf(type.key), body);
        body.push(1);
        encodeInt(this.#idOf(type.elem), body);
        body.push(0);
        break;
      case 'gobEncoder':
        body.push(5); // field 4: GobEncoderT
        common();
        body.push(0);
        break;
    }
    body.push(0); // end of wireType
    encodeUint(body.length, out);
    for (const byte of body) out.push(byte);
    return id;
  }

  #value(type: GobType, value: GobValue, out: number[]): void {
    switch (type.kind) {
      case 'bool':
        out.push(value === true ? 1 : 0);
        return;
      case 'uint':
        encodeUint(value as bigint | number, out);
        return;
      case 'int':
        encodeInt(value as bigint | number, out);
        return;
      case 'string':
        encodeBytes(Buffer.from(value as string, 'utf8'), out);
        return;
      case 'bytes':
      case 'gobEncoder':
        encodeBytes(value as Buffer, out);
        return;
      case 'slice': {
        const items = value as GobValue[];
        encodeUint(items.length, out);
        for (const item of items) this.#value(type.elem, item, out);
        return;
      }
      case 'map': {
        const entries = value as Map<GobValue, GobValue>;
        encodeUint(entries.size, out);
        for (const [key, item] of entries) {
          this.#value(type.key, key, out);
          this.#value(type.elem, item, out);
        }
        return;
      }
      case 'struct': {
        const record = value as { [field: string]: GobValue };
        let last = -1;
        type.fields.forEach((field, index) => {
          const item = record[field.name];
          if (item === undefined || isZero(field.type, item)) return; // gob omits zero fields
          encodeUint(index - last, out);
          last = index;
          this.#value(field.type, item, out);
        });
        out.push(0);
        return;
      }
    }
  }
}

function isZero(type: GobType, value: GobValue): boolean {
  switch (type.kind) {
    case 'bool':
      return value === false;
    case 'int':
    case 'uint':
      return BigInt(value as bigint | number) === 0n;
    case 'string':
      return value === '';
    case 'bytes':
    case 'slice':
      return (value as { length: number }).length === 0;
    case 'map':
      return (value as Map<GobValue, GobValue>).size === 0;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoder

/** A received type definition. */
type WireType =
  | { readonly kind: 'struct'; readonly name: string; readonly fields: readonly { readonly name: string; readonly id: number }[] }
  | { readonly kind: 'map'; readonly name: string; readonly key: number; readonly elem: number }
  | { readonly kind: 'slice'; readonly name: string; readonly elem: number }
  | { readonly kind: 'array'; readonly name: string; readonly elem: number; readonly length: number }
  | { readonly kind: 'gobEncoder'; readonly name: string };

/** Decodes messages; feed it whole messages (see GobMessageReader), it returns values and keeps definitions. */
export class GobDecoder {
  readonly #types = new Map<number, WireType>();

  /** One message: a definition (returns undefined) or a value with its type id. */
  decodeMessage(message: Buffer): { typeId: number; value: GobValue } | undefined {
    const cursor = new MessageCursor(message);
    const typeId = Number(cursor.int());
    if (typeId < 0) {
      this.#types.set(-typeId, readWireType(cursor));
      return undefined;
    }
    const wire = this.#types.get(typeId);
    if (wire?.kind === 'struct') return { typeId, value: this.#value(typeId, cursor) };
    if (cursor.uint() !== 0n) throw new GobError('decode: corrupted data: non-zero delta for singleton');
    return { typeId, value: this.#value(typeId, cursor) };
  }

  #value(typeId: number, cursor: MessageCursor): GobValue {
    switch (typeId) {
      case T_BOOL:
        return cursor.uint() !== 0n;
      case T_INT:
        return cursor.int();
      case T_UINT:
        return cursor.uint();
      case T_FLOAT: {
        const bits = cursor.uint();
        const bytes = Buffer.alloc(8);
        bytes.writeBigUInt64LE(bits); // gob sends the float's bytes reversed
        return bytes.readDoubleBE(0);
      }
      case T_BYTES:
        return cursor.bytes();
      case T_STRING:
        return cursor.bytes().toString('utf8');
    }
    const wire = this.#types.get(typeId);
    if (wire === undefined) throw new GobError(`value of undefined type id ${typeId}`);
    switch (wire.kind) {
      case 'gobEncoder':
        return cursor.bytes();
      case 'slice': {
        const length = cursor.count();
        const items: GobValue[] = [];
        for (let index = 0; index < length; index++) items.push(this.#value(wire.elem, cursor));
        return items;
      }
      case 'array': {
        const length = cursor.count();
        if (length !== wire.length) throw new GobError(`array ${wire.name}: length ${length}, expected ${wire.length}`);
        const items: GobValue[] = [];
        for (let index = 0; index < length; index++) items.push(this.#value(wire.elem, cursor));
        return items;
      }
      case 'map': {
        const size = cursor.count();
        const entries = new Map<GobValue, GobValue>();
        for (let index = 0; index < size; index++) {
          const key = this.#value(wire.key, cursor);
          entries.set(key, this.#value(wire.elem, cursor));
        }
        return entries;
      }
      case 'struct': {
        const record: { [field: string]: GobValue } = {};
        let field = -1;
        for (;;) {
          const delta = Number(cursor.uint());
          if (delta === 0) return record;
          field += delta;
          const description = wire.fields[field];
          if (description === undefined) throw new GobError(`struct ${wire.name}: field number ${field} is not defined`);
          record[description.name] = this.#value(description.id, cursor);
        }
      }
    }
  }
}

/** Reads a struct of the bootstrap types with a handler per field number. */
function readFields(cursor: MessageCursor, onField: (field: number) => void): void {
  let field = -1;
  for (;;) {
    const delta = Number(cursor.uint());
    if (delta === 0) return;
    field += delta;
    onField(field);
  }
}

function readCommon(cursor: MessageCursor): { name: string; id: number } {
  const common = { name: '', id: 0 };
  readFields(cursor, (field) => {
    if (field === 0) common.name = cursor.bytes().toString('utf8');
    else if (field === 1) common.id = Number(cursor.int());
    else throw new GobError('bad CommonType');
  });
  return common;
}

function readWireType(cursor: MessageCursor): WireType {
  let result: WireType | undefined;
  readFields(cursor, (kind) => {
    let name = '';
    const numbers: number[] = [];
    const fields: { name: string; id: number }[] = [];
    readFields(cursor, (field) => {
      if (field === 0) {
        name = readCommon(cursor).name;
      } else if (kind === 2 && field === 1) {
        const count = cursor.count();
        for (let index = 0; index < count; index++) {
          const entry = { name: '', id: 0 };
          readFields(cursor, (inner) => {
            if (inner === 0) entry.name = cursor.bytes().toString('utf8');
            else entry.id = Number(cursor.int());
          });
          fields.push(entry);
        }
      } else {
        numbers[field] = Number(cursor.int());
      }
    });
    switch (kind) {
      case 0:
        result = { kind: 'array', name, elem: numbers[1] ?? 0, length: numbers[2] ?? 0 };
        break;
      case 1:
        result = { kind: 'slice', name, elem: numbers[1] ?? 0 };
        break;
      case 2:
        result = { kind: 'struct', name, fields };
        break;
      case 3:
        result = { kind: 'map', name, key: numbers[1] ?? 0, elem: numbers[2] ?? 0 };
        break;
      case 4:
      case 5:
      case 6:
        result = { kind: 'gobEncoder', name };
        break;
      default:
        throw new GobError(`unknown wire type kind ${kind}`);
    }
  });
  if (result === undefined) throw new GobError('empty type definition');
  return result;
}

/** Cuts a byte stream into gob messages (each prefixed by its length as a gob uint). */
export class GobMessageReader {
  readonly #source: AsyncIterator<Buffer>;
  #pending: Buffer = Buffer.alloc(0);
  /** Go refuses messages over 1 GiB; ours are at most a file list. */
  static readonly MAX_MESSAGE = 1 << 30;

  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  async #fill(wanted: number): Promise<boolean> {
    while (this.#pending.length < wanted) {
      const next = await this.#source.next();
      if (next.done === true) return false;
      this.#pending = this.#pending.length === 0 ? next.value : Buffer.concat([this.#pending, next.value]);
    }
    return true;
  }

  /** The next message, or undefined at a clean end of stream. */
  async next(): Promise<Buffer | undefined> {
    if (!(await this.#fill(1))) {
      if (this.#pending.length === 0) return undefined;
      throw new GobError('stream ended inside a message');
    }
    const first = this.#pending[0];
    const prefix = first < 0x80 ? 1 : 1 + (256 - first);
    if (!(await this.#fill(prefix))) throw new GobError('stream ended inside a message length');
    const length = Number(new MessageCursor(this.#pending.subarray(0, prefix)).uint());
    if (length > GobMessageReader.MAX_MESSAGE) throw new GobError(`message of ${length} bytes is too big`);
    if (!(await this.#fill(prefix + length))) throw new GobError('stream ended inside a message');
    const message = this.#pending.subarray(prefix, prefix + length);
    this.#pending = this.#pending.subarray(prefix + length);
    return message;
  }
}
