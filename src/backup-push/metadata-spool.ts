// files_metadata.json written while the backup runs: every file's description, each tar's member list and the
// partial-restore names go to temporary files as ready-made JSON pieces, so memory does not grow with the number of
// files, and the document is then streamed from them (encoding/json/v2 form: empty members left out, no escaping
// of <, > and &, no trailing newline).

import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { goJsonV2String } from '../backup/json.ts';
import type { BackupFileDescription } from '../backup/files-metadata.ts';

/** The JSON of one BackupFileDescription, in WAL-G's field order. */
export function encodeFileDescription(description: BackupFileDescription): string {
  let text = `{"IsIncremented":${description.isIncremented},"IsSkipped":${description.isSkipped},"MTime":${goJsonV2String(description.modificationTime)}`;
  if (description.corruptBlocks !== undefined) {
    text += `,"CorruptBlocks":{"CorruptBlocksCount":${description.corruptBlocks.count},"SomeCorruptBlocks":[${description.corruptBlocks.someBlocks.join(',')}]}`;
  }
  return `${text},"UpdatesCount":${description.updatesCount}}`;
}

/** An append-only temporary file of comma-separated JSON pieces. */
class PieceFile {
  readonly path: string;
  #stream: WriteStream | undefined;
  count = 0;

  constructor(path: string) {
    this.path = path;
  }

  async append(piece: string): Promise<void> {
    this.#stream ??= createWriteStream(this.path, { flags: 'w', highWaterMark: 64 * 1024 });
    const ok = this.#stream.write(this.count === 0 ? piece : `,${piece}`);
    this.count++;
    if (!ok) await once(this.#stream, 'drain');
  }

  async close(): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined || stream.closed) return;
    stream.end();
    await once(stream, 'close');
  }

  /** The pieces as they were written (empty when none). */
  async *read(): AsyncGenerator<Buffer> {
    await this.close();
    if (this.count === 0) return;
    for await (const chunk of createReadStream(this.path, { highWaterMark: 64 * 1024 })) yield chunk as Buffer;
  }
}

/** Collects files_metadata.json on disk while a backup runs. */
export class FilesMetadataSpool {
  readonly #directory: string;
  readonly #files: PieceFile;
  readonly #databases: PieceFile;
  /** Tar name → its member list, in the order tars were started. */
  readonly #tarMembers = new Map<string, PieceFile>();
  #closed = false;

  private constructor(directory: string) {
    this.#directory = directory;
    this.#files = new PieceFile(join(directory, 'files'));
    this.#databases = new PieceFile(join(directory, 'databases'));
  }

  /** Makes the spool in a fresh temporary directory (removed by dispose()). */
  static async create(parent = tmpdir()): Promise<FilesMetadataSpool> {
    return new FilesMetadataSpool(await mkdtemp(join(parent, 'walnut-backup-push-')));
  }

  get fileCount(): number {
    return this.#files.count;
  }

  /** A `Files` entry. Each member name must be added once. */
  addFile(memberName: string, description: BackupFileDescription): Promise<void> {
    return this.#files.append(`${goJsonV2String(memberName)}:${encodeFileDescription(description)}`);
  }

  /** A `TarFileSets` entry: `memberName` went into the tar object `tarName`. */
  addTarMember(tarName: string, memberName: string): Promise<void> {
    let file = this.#tarMembers.get(tarName);
    if (file === undefined) {
      file = new PieceFile(join(this.#directory, `tar-${this.#tarMembers.size}`));
      this.#tarMembers.set(tarName, file);
    }
    return file.append(goJsonV2String(memberName));
  }

  /** Closes a tar's member list (its file handle) once the tar is complete. */
  async closeTar(tarName: string): Promise<void> {
    await this.#tarMembers.get(tarName)?.close();
  }

  /** A `DatabasesByNames` entry, already encoded (`{"oid":5,"tables_new":{...}}`). */
  addDatabase(name: string, encodedObjects: string): Promise<void> {
    return this.#databases.append(`${goJsonV2String(name)}:${encodedObjects}`);
  }

  /** The whole document, streamed from the spool files. */
  async *documentChunks(): AsyncGenerator<Buffer | string> {
    yield '{';
    let needsComma = false;
    if (this.#files.count > 0) {
      yield '"Files":{';
      yield* this.#files.read();
      yield '}';
      needsComma = true;
    }
    const sets = [...this.#tarMembers].filter(([, file]) => file.count > 0);
    if (sets.length > 0) {
      yield `${needsComma ? ',' : ''}"TarFileSets":{`;
      let first = true;
      for (const [tarName, file] of sets) {
        yield `${first ? '' : ','}${goJsonV2String(tarName)}:[`;
        yield* file.read();
        yield ']';
        first = false;
      }
      yield '}';
      needsComma = true;
    }
    if (this.#databases.count > 0) {
      yield `${needsComma ? ',' : ''}"DatabasesByNames":{`;
      yield* this.#databases.read();
      yield '}';
    }
    yield '}';
  }

  /** The document as a readable stream, for an upload. */
  documentStream(): Readable {
    return Readable.from(this.documentChunks(), { objectMode: false });
  }

  /** Closes every file and removes the temporary directory. */
  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#files.close(), this.#databases.close(), ...[...this.#tarMembers.values()].map((file) => file.close())]).catch(() => undefined);
    await rm(this.#directory, { recursive: true, force: true });
  }
}
