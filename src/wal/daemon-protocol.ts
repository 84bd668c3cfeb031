// The wire format between `wal-g daemon` and walg-daemon-client, byte for byte as WAL-G's internal/daemon has it:
// request frames (type, u16 BE total length, body), the argument-list body, and one-byte answers. No I/O here.

/** Message type bytes. Requests: check, walPush, walFetch. Answers: ok, error, notFound. */
export const MESSAGE_TYPE = {
  check: 0x43, // 'C'
  walPush: 0x46, // 'F'
  walFetch: 0x66, // 'f'
  ok: 0x4f, // 'O'
  error: 0x45, // 'E'
  notFound: 0x4e, // 'N'
} as const;

/** Type byte plus the u16 length. */
export const FRAME_HEADER_LENGTH = 3;
const MAX_U16 = 0xffff;
const MAX_ARGUMENTS = 255;

/** A request or argument list that does not follow the protocol. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** WAL-G's ArgsToBytes: a count byte, then each argument as u16 BE byte length plus its UTF-8 bytes. */
export function encodeArguments(args: readonly string[]): Buffer {
  if (args.length > MAX_ARGUMENTS) throw new ProtocolError('unsupported args count');
  const parts: Buffer[] = [Buffer.from([args.length])];
  let total = 1;
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    if (bytes.length > MAX_U16) throw new ProtocolError('unsupported arg size');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    parts.push(length, bytes);
    total += 2 + bytes.length;
    // The same bound WAL-G checks after each argument, so the frame length still fits its u16.
    if (total > MAX_U16 - 1 - 2 * args.length) throw new ProtocolError('unsupported total args size');
  }
  return Buffer.concat(parts, total);
}

/**
 * WAL-G's BytesToArgs. Like WAL-G it wants at least one byte after every length field (so an empty last argument
 * is refused) and no trailing bytes; unlike WAL-G an empty body is an error instead of a crash.
 */
export function decodeArguments(body: Uint8Array): string[] {
  if (body.length === 0) throw new ProtocolError('currepted message body');
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const count = view[0];
  const args: string[] = [];
  let index = 1;
  for (let i = 0; i < count; i++) {
    // WAL-G's message text, typo included: scripts may match it.
    if (index + 2 >= view.length) throw new ProtocolError('currepted message body');
    const length = view.readUInt16BE(index);
    index += 2;
    if (index + length > view.length) throw new ProtocolError('currepted message body');
    args.push(view.toString('utf8', index, index + length));
    index += length;
  }
  if (index !== view.length) throw new ProtocolError('currepted message body');
  return args;
}

/**
 * A request frame as walg-daemon-client builds it: no arguments → empty body; one argument → the raw string
 * (the `F` push request); more → the argument list.
 */
export function encodeRequest(type: number, args: readonly string[]): Buffer {
  let body: Buffer;
  if (args.length === 0) body = Buffer.alloc(0);
  else if (args.length === 1) body = Buffer.from(args[0], 'utf8');
  else body = encodeArguments(args);
  const total = FRAME_HEADER_LENGTH + body.length;
  // WAL-G would silently wrap the u16; a frame the daemon cannot read is better refused here.
  if (total > MAX_U16) throw new ProtocolError(`message too long: ${total} bytes, the protocol allows ${MAX_U16}`);
  const header = Buffer.alloc(FRAME_HEADER_LENGTH);
  header[0] = type;
  header.writeUInt16BE(total, 1);
  return Buffer.concat([header, body], total);
}

export interface RequestFrame {
  readonly type: number;
  readonly body: Buffer;
}

/**
 * Cuts a byte stream into request frames. A length below the header size is refused (WAL-G would wait for ~64 KiB
 * that never come); bytes after a frame stay queued for the next call.
 */
export class RequestFrameReader {
  #pending: Buffer = Buffer.alloc(0);

  /** Adds received bytes and returns every frame now complete, in order. */
  push(chunk: Uint8Array): RequestFrame[] {
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const frames: RequestFrame[] = [];
    while (this.#pending.length >= FRAME_HEADER_LENGTH) {
      const total = this.#pending.readUInt16BE(1);
      if (total < FRAME_HEADER_LENGTH) {
        throw new ProtocolError(`fail to read message len: length ${total} is shorter than the ${FRAME_HEADER_LENGTH}-byte header`);
      }
      if (this.#pending.length < total) break;
      frames.push({ type: this.#pending[0], body: this.#pending.subarray(FRAME_HEADER_LENGTH, total) });
      this.#pending = this.#pending.subarray(total);
    }
    return frames;
  }

  /** Bytes received that do not yet form a whole frame (the reason a closed connection is a read error). */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}

/** The character a type byte stands for, for messages (`F`, `f`, ...). */
export function messageTypeName(type: number): string {
  return String.fromCharCode(type);
}
