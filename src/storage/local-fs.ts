// Local file operations of the write path (file storage puts, pooled file reads, WAL archive status): libuv's pool
// through node:fs/promises by default, or the synchronous calls on the main thread for wal-push, which then starts
// no pool thread at all. Each pool thread has an 8 MiB stack that libuv fixes, a fifth of wal-push's private
// writable memory (docs/PERFORMANCE.md, session 6). A wal-push moves one segment at a time and compresses on the
// main thread anyway, so nothing waits on these calls that would not have waited on the pool.

import * as fs from 'node:fs';
import { nodeFsPromises } from '../native/lazy-builtins.ts';

let synchronous = false;

/** Switches every later call of this module to the synchronous calls (true) or back to the pool (false). */
export function useSynchronousLocalIo(on: boolean): void {
  synchronous = on;
}

/** The part of a FileHandle the write path uses. */
export interface LocalFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** A file descriptor behind the LocalFile methods, each a synchronous call; close is idempotent. */
class SynchronousFile implements LocalFile {
  #fd: number | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  #descriptor(): number {
    if (this.#fd === undefined) throw Object.assign(new Error('file closed'), { code: 'EBADF' });
    return this.#fd;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }> {
    return { bytesRead: fs.readSync(this.#descriptor(), buffer, offset, length, position) };
  }

  async write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }> {
    return { bytesWritten: fs.writeSync(this.#descriptor(), buffer, offset, length) };
  }

  async sync(): Promise<void> {
    fs.fsyncSync(this.#descriptor());
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export async function open(path: string, flags: string, mode?: number): Promise<LocalFile> {
  if (synchronous) return new SynchronousFile(fs.openSync(path, flags, mode));
  return nodeFsPromises().open(path, flags, mode);
}

export async function stat(path: string): Promise<fs.Stats>;
export async function stat(path: string, options: { bigint: true }): Promise<fs.BigIntStats>;
export async function stat(path: string, options?: { bigint: true }): Promise<fs.Stats | fs.BigIntStats> {
  if (synchronous) return options?.bigint ? fs.statSync(path, { bigint: true }) : fs.statSync(path);
  return options?.bigint ? nodeFsPromises().stat(path, { bigint: true }) : nodeFsPromises().stat(path);
}

export async function mkdir(path: string, options: { recursive: true; mode: number }): Promise<void> {
  if (synchronous) fs.mkdirSync(path, options);
  else await nodeFsPromises().mkdir(path, options);
}

export async function rename(from: string, to: string): Promise<void> {
  if (synchronous) fs.renameSync(from, to);
  else await nodeFsPromises().rename(from, to);
}

export async function link(existing: string, path: string): Promise<void> {
  if (synchronous) fs.linkSync(existing, path);
  else await nodeFsPromises().link(existing, path);
}

export async function unlink(path: string): Promise<void> {
  if (synchronous) fs.unlinkSync(path);
  else await nodeFsPromises().unlink(path);
}

export async function readdir(path: string): Promise<string[]> {
  if (synchronous) return fs.readdirSync(path);
  return nodeFsPromises().readdir(path);
}

export async function writeFile(path: string, data: string, options: { mode: number }): Promise<void> {
  if (synchronous) fs.writeFileSync(path, data, options);
  else await nodeFsPromises().writeFile(path, data, options);
}
