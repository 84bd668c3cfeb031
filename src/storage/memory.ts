// An in-memory driver for tests (like WAL-G's pkg/storages/memory): same contract as the real drivers, no disk.

import { Readable } from 'node:stream';
import { NotFoundError, ObjectExistsError, checkRange, compareKeys } from './driver.ts';
import type { GetOptions, ListEntry, ListOptions, ObjectInfo, PutOptions, StorageDriver } from './driver.ts';

interface StoredObject {
  data: Buffer;
  modified: Date;
}

export class MemoryStorageDriver implements StorageDriver {
  readonly kind = 'memory';
  /** The stored objects by key; tests may read it directly. */
  readonly objects = new Map<string, StoredObject>();

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort(compareKeys);
    let lastFolder = '';
    for (const key of keys) {
      const stored = this.objects.get(key);
      if (stored === undefined) continue; // deleted while listing
      const slashAt = options.recursive ? -1 : key.indexOf('/', prefix.length);
      if (slashAt < 0) {
        yield { kind: 'object', key, size: stored.data.length, modified: stored.modified };
        continue;
      }
      const folder = key.slice(0, slashAt + 1);
      if (folder !== lastFolder) yield { kind: 'folder', key: folder };
      lastFolder = folder;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const stored = this.objects.get(key);
    if (stored === undefined) return undefined;
    return { kind: 'object', key, size: stored.data.length, modified: stored.modified };
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    const { offset, length } = checkRange(key, options);
    const stored = this.objects.get(key);
    if (stored === undefined) throw new NotFoundError(key);
    const end = length === undefined ? stored.data.length : Math.min(stored.data.length, offset + length);
    return Readable.from(offset < end ? [stored.data.subarray(offset, end)] : [], { objectMode: false });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<void> {
    const overwrite = options.overwrite ?? true;
    if (!overwrite && this.objects.has(key)) {
      body.destroy();
      throw new ObjectExistsError(key);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    // Stored only once the body has ended, so a failed body leaves the previous state.
    if (!overwrite && this.objects.has(key)) throw new ObjectExistsError(key);
    this.objects.set(key, { data: Buffer.concat(chunks), modified: new Date() });
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const key of keys) this.objects.delete(key);
  }

  async copy(sourceKey: string, destinationKey: string): Promise<void> {
    const stored = this.objects.get(sourceKey);
    if (stored === undefined) throw new NotFoundError(sourceKey);
    this.objects.set(destinationKey, { data: stored.data, modified: new Date() });
  }

  async close(): Promise<void> {
    /* nothing to release */
  }
}
