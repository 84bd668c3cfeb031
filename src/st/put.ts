// `st put`: uploads a local file or stdin to `<destination>.<ext>`, compressed with the configured method and
// encrypted with the configured crypter (each optional), refusing to replace an object unless forced.

import { createReadStream, fstatSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Codec } from '../compression/codec.ts';
import type { Settings } from '../config/settings.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { configuredCodec } from '../objects/configured.ts';
import { uploadStream } from '../objects/transfer.ts';
import { joinPath, type Folder } from '../storage/driver.ts';
import { pathErrorText } from '../storage/go-text.ts';
import { PooledFileReader } from '../stream/file-source.ts';
import { DEFAULT_CHUNK_SIZE } from '../stream/memory-budget.ts';
import { goPathBase, goPathDir } from './go-path.ts';

export interface PutOptions {
  /** The configured method: its extension names the object (and is checked for overwrites even with --no-compress). */
  readonly configuredCodec: Codec;
  /** false = --no-compress: stored as is, under the bare destination name. */
  readonly compress: boolean;
  readonly crypter: Crypter | undefined;
  /** -f: replace an existing object. */
  readonly overwrite: boolean;
}

/** The configured compression method, as WAL-G's ConfigureUploaderToFolder reports a bad one. */
export function uploaderCodec(settings: Settings): Codec {
  try {
    return configuredCodec(settings);
  } catch (error) {
    throw new WalgError(`failed to configure compression: ${errorMessage(error)}`, 1, { cause: error });
  }
}

/**
 * Checks that the local file to upload can be opened and is no directory, with WAL-G's messages. Done before any
 * storage is opened, as in WAL-G; each storage then reads it with localFileSource.
 */
export async function checkLocalSource(localPath: string): Promise<void> {
  let handle;
  try {
    handle = await open(localPath, 'r');
  } catch (error) {
    throw new WalgError(`open the local file: ${pathErrorText('open', localPath, error)}`, 1, { cause: error });
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new WalgError(`provided local path (${localPath}) points to a directory, exiting`);
  } catch (error) {
    if (error instanceof WalgError) throw error;
    throw new WalgError(`stat() the local file: ${pathErrorText('stat', localPath, error)}`, 1, { cause: error });
  } finally {
    await handle.close();
  }
}

/** The local file as a stream of pooled chunks. */
export function localFileSource(localPath: string): Readable {
  return new PooledFileReader(localPath);
}

/**
 * Standard input as a byte stream. A regular file (`< file`) is read in pipeline-sized chunks straight from
 * descriptor 0; a pipe or terminal goes through process.stdin, which copes with non-blocking descriptors.
 * (Gathering a pipe's 64 KiB reads into 1 MiB chunks was measured: no gain.)
 */
export async function openStandardInput(): Promise<Readable> {
  try {
    if (fstatSync(0).isFile()) return createReadStream('', { fd: 0, autoClose: false, highWaterMark: DEFAULT_CHUNK_SIZE });
  } catch {
    /* fall back to process.stdin */
  }
  return process.stdin;
}

/** The stored key for a destination path: its folder (leading slashes dropped) and base name, plus the extension. */
export function storedKeyFor(destinationPath: string, extension: string | undefined): string {
  const directory = goPathDir(destinationPath).replace(/^\/+/, '');
  const name = goPathBase(destinationPath).replace(/^\/+/, '');
  return joinPath(directory === '.' ? '' : directory, extension === undefined ? name : `${name}.${extension}`);
}

/**
 * `st put`: WAL-G first checks `<destination>.<configured extension>` (even with --no-compress, where that is not
 * the name written), then uploads. Errors read `check file overwrite: ...` and `upload: ...`.
 */
export async function putObject(folder: Folder, source: Readable, destinationPath: string, options: PutOptions): Promise<void> {
  const checkedPath = `${destinationPath}.${options.configuredCodec.extension}`;
  let exists: boolean;
  try {
    exists = await folder.exists(checkedPath.replace(/^\/+/, ''));
  } catch (error) {
    source.destroy();
    throw new WalgError(`check file overwrite: check object existence: ${errorMessage(error)}`, 1, { cause: error });
  }
  if (exists && !options.overwrite) {
    source.destroy();
    throw new WalgError(`check file overwrite: object ${checkedPath} already exists. To overwrite it, add the -f flag`);
  }
  const codec = options.compress ? options.configuredCodec : undefined;
  const key = storedKeyFor(destinationPath, codec?.extension);
  try {
    await uploadStream(folder, key, source, { codec, crypter: options.crypter, overwrite: true });
  } catch (error) {
    throw new WalgError(`upload: ${errorMessage(error)}`, 1, { cause: error });
  }
}
