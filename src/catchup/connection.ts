// One catchup-send/receive TCP connection as WAL-G frames it: gob messages inside a brotli stream each way,
// flushed at the points where the other side waits for an answer.

import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createBrotliCompress, createBrotliDecompress, type BrotliCompress } from 'node:zlib';
import { errorMessage, WalgError } from '../errors.ts';
import { GobDecoder, GobEncoder, GobMessageReader, type GobType, type GobValue } from './gob.ts';

/** WAL-G's brotli writer settings (cbrotli quality 3). */
const BROTLI_QUALITY = 3;

export class CatchupConnection {
  readonly #socket: Socket;
  readonly #peer: string;
  readonly #compressor: BrotliCompress;
  readonly #reader: GobMessageReader;
  readonly #encoder = new GobEncoder();
  readonly #decoder = new GobDecoder();
  #failure: Error | undefined;

  constructor(socket: Socket, peer: string) {
    this.#socket = socket;
    this.#peer = peer;
    this.#compressor = createBrotliCompress({ params: { [zlibConstants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } });
    const decompressor = createBrotliDecompress();
    const remember = (error: unknown): void => {
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
    };
    pipeline(this.#compressor, socket).catch(remember);
    pipeline(socket, decompressor).catch(remember);
    this.#reader = new GobMessageReader(decompressor);
  }

  /** Encodes one value; waits while the socket is full, so a file is never queued whole. */
  async send(type: GobType, value: GobValue): Promise<void> {
    if (this.#failure !== undefined) throw this.#broken(this.#failure);
    if (!this.#compressor.write(this.#encoder.encode(type, value))) {
      // Both waits are cancelled when either ends, so no 'close' listener is left behind per full write.
      const settled = new AbortController();
      try {
        await Promise.race([once(this.#compressor, 'drain', { signal: settled.signal }), once(this.#compressor, 'close', { signal: settled.signal })]);
      } finally {
        settled.abort();
      }
    }
  }

  /** Pushes everything written so far to the peer (BROTLI_OPERATION_FLUSH). */
  async flush(): Promise<void> {
    await new Promise<void>((resolve) => this.#compressor.flush(zlibConstants.BROTLI_OPERATION_FLUSH, () => resolve()));
    if (this.#failure !== undefined) throw this.#broken(this.#failure);
  }

  /** The next value the peer sent (type definitions are absorbed on the way). */
  async receive(): Promise<GobValue> {
    for (;;) {
      let message: Buffer | undefined;
      try {
        message = await this.#reader.next();
      } catch (error) {
        throw this.#broken(error);
      }
      if (message === undefined) throw new WalgError(`catchup: ${this.#peer} closed the connection before the transfer was complete`);
      const decoded = this.#decoder.decodeMessage(message);
      if (decoded !== undefined) return decoded.value;
    }
  }

  #broken(error: unknown): WalgError {
    return new WalgError(`catchup: connection with ${this.#peer} failed: ${errorMessage(error)}`, 1, { cause: error });
  }

  /** Ends our stream cleanly and closes the socket. */
  async close(): Promise<void> {
    this.#compressor.end();
    await Promise.race([once(this.#socket, 'close'), new Promise((resolve) => setTimeout(resolve, 2000))]).catch(() => undefined);
    this.#socket.destroy();
  }

  destroy(): void {
    this.#compressor.destroy();
    this.#socket.destroy();
  }
}

/** net.Dial("tcp", destination) with Go's wording on failure. */
export async function dialCatchup(destination: string): Promise<CatchupConnection> {
  const separator = destination.lastIndexOf(':');
  const host = separator > 0 ? destination.slice(0, separator).replace(/^\[(.*)\]$/, '$1') : '';
  const port = separator >= 0 ? Number(destination.slice(separator + 1)) : Number.NaN;
  if (separator < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new WalgError(`dial tcp ${destination}: address ${destination}: expected host:port (for example standby.example.com:1337)`);
  }
  const socket = connect({ host: host === '' ? 'localhost' : host, port });
  try {
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'error').then(([error]) => {
        throw error;
      }),
    ]);
  } catch (error) {
    socket.destroy();
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ECONNREFUSED' ? 'connect: connection refused — is catchup-receive listening there?' : errorMessage(error);
    throw new WalgError(`dial tcp ${destination}: ${reason}`, 1, { cause: error });
  }
  return new CatchupConnection(socket, destination);
}

/** net.Listen("tcp", ":port") and Accept of the one sender; the listener closes once it has it. */
export async function acceptCatchup(port: number): Promise<CatchupConnection> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new WalgError(`listen tcp :${port}: ${error.code === 'EADDRINUSE' ? 'bind: address already in use' : errorMessage(error)}`, 1, { cause: error })),
      );
      server.listen(port, () => resolve());
    });
    const [socket] = (await once(server, 'connection')) as [Socket];
    return new CatchupConnection(socket, `${socket.remoteAddress ?? 'sender'}:${socket.remotePort ?? ''}`);
  } finally {
    server.close();
  }
}
