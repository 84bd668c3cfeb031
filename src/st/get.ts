// `st get` and `st cat`: one stored object, decrypted with the configured crypter and decompressed by its
// extension (each optional), into a new local file or onto stdout.

import { access, lstat, stat, constants as fsConstants } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { DecompressionFormat } from '../compression/codec.ts';
import { COMPRESSION_METHODS, codecForExtension } from '../compression/registry.ts';
import type { Crypter } from '../crypto/crypter.ts';
import { WalgError, errorMessage } from '../errors.ts';
import { log } from '../log/logger.ts';
import { downloadToFile, downloadToStream } from '../objects/transfer.ts';
import { trimSlashes, type Folder } from '../storage/driver.ts';
import { errorCode, pathErrorText } from '../storage/go-text.ts';
import { goPathBase, goPathExt, goPathJoin } from './go-path.ts';
import { globFolder } from './listing.ts';

export interface DecodeChoice {
  /** The crypter to decrypt with; undefined = keep the stored bytes as they are (or none is configured). */
  readonly crypter: Crypter | undefined;
  /** Whether to decompress by the object's extension. */
  readonly decompress: boolean;
}

/**
 * The decompressor WAL-G picks for an object: by the extension of its base name (`.lz4`, `.zst`, '' for none...).
 * An unknown extension gets WAL-G's warning and the object is copied as stored.
 */
export function formatForObject(objectPath: string): DecompressionFormat | undefined {
  const extension = goPathExt(goPathBase(objectPath));
  const format = codecForExtension(extension);
  if (format === undefined) {
    log.warn(
      `decompressor for extension '${extension}' was not found (supported methods: [${COMPRESSION_METHODS.join(' ')}]), ` +
        'will download uncompressed',
    );
  }
  return format;
}

/** The first bytes of each format that has a signature; an object without them was not written as that format. */
const FORMAT_SIGNATURES: Readonly<Record<string, Buffer>> = {
  lz4: Buffer.from([0x04, 0x22, 0x4d, 0x18]),
  zst: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
  lzma: Buffer.from([0x5d]),
  gz: Buffer.from([0x1f, 0x8b]),
};

/** Public-key algorithm ids a PKESK packet may name (RFC 9580 §9.1): RSA, Elgamal, ECDH, X25519, X448. */
const PGP_PUBLIC_KEY_ALGORITHMS = new Set([1, 2, 16, 18, 25, 26]);

/**
 * Whether the bytes start like a binary OpenPGP message: a public-key (tag 1) or symmetric-key (tag 3) encrypted
 * session key packet with a valid header, version and, for tag 1, algorithm. Random bytes (a libsodium header)
 * pass this by chance about once in a million.
 */
export function looksLikeOpenPgp(head: Buffer): boolean {
  if (head.length < 2) return false;
  const first = head[0];
  if ((first & 0x80) === 0) return false;
  let tag: number;
  let bodyAt: number;
  if ((first & 0x40) !== 0) {
    tag = first & 0x3f;
    const length = head[1];
    if (length < 192) bodyAt = 2;
    else if (length < 224) bodyAt = 3;
    else if (length === 255) bodyAt = 6;
    else return false; // partial lengths are not allowed for these packets
  } else {
    tag = (first >> 2) & 0x0f;
    const lengthType = first & 0x03;
    if (lengthType === 3) return false;
    bodyAt = 1 + [1, 2, 4][lengthType];
  }
  const version = head[bodyAt];
  // SKESK v4: symmetric algorithm 1..13, then an S2K specifier 0, 1, 3 or 4.
  if (tag === 3) return version === 4 && head[bodyAt + 1] >= 1 && head[bodyAt + 1] <= 13 && [0, 1, 3, 4].includes(head[bodyAt + 2]);
  if (tag !== 1) return false;
  // PKESK v3: an 8-byte key id, then the algorithm. v6: the length of the recipient's fingerprint field.
  if (version === 3) return bodyAt + 9 < head.length && PGP_PUBLIC_KEY_ALGORITHMS.has(head[bodyAt + 9]);
  return version === 6 && [0, 21, 33].includes(head[bodyAt + 1]);
}

async function objectHead(folder: Folder, key: string): Promise<Buffer> {
  try {
    const parts: Buffer[] = [];
    for await (const part of await folder.get(key, { length: 16 })) parts.push(Buffer.from(part as Uint8Array));
    return Buffer.concat(parts);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Adds the likely cause when decompression fails while no crypter is configured: an object that does not start
 * with its format's signature was most likely written encrypted, so say which settings hold the key. An object
 * that does start with it is damaged, which the decompressor's own message already says.
 */
async function explainDecodeFailure(
  error: unknown,
  folder: Folder,
  key: string,
  choice: DecodeChoice,
  format: DecompressionFormat | undefined,
): Promise<unknown> {
  if (choice.crypter !== undefined || format === undefined || format.extension === '') return error;
  const message = errorMessage(error);
  // The decoder's own error ("lz4: ..."), not a storage error that names the object ("a/obj.lz4: download ...").
  if (!new RegExp(`(?:^|: )${format.name}: `).test(message)) return error;
  const head = await objectHead(folder, key);
  const signature = FORMAT_SIGNATURES[format.extension];
  if (signature !== undefined && head.subarray(0, signature.length).equals(signature)) return error;
  const hint = looksLikeOpenPgp(head)
    ? 'it looks like an OpenPGP message, and no key is configured: set WALG_PGP_KEY (and WALG_PGP_KEY_PASSPHRASE) as when it was written'
    : `it is not ${format.name} data: probably it is encrypted and no key is configured ` +
      '(set WALG_LIBSODIUM_KEY or WALG_PGP_KEY as when it was written), or it is damaged';
  return new WalgError(`${message} — ${hint}`, 1, { cause: error });
}

/** Object paths are relative to the storage root; a leading '/' means the same (WAL-G joins paths). */
function objectKey(objectPath: string): string {
  return trimSlashes(objectPath);
}

/** Where `st get` writes: the destination itself, or `<destination>/<object base name>` when it is a directory. */
async function targetFilePath(destination: string, objectPath: string): Promise<string> {
  try {
    const info = await stat(destination);
    return info.isDirectory() ? goPathJoin(destination, goPathBase(objectPath)) : destination;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return destination;
    throw new WalgError(`determine the destination path: ${pathErrorText('stat', destination, error)}`, 1, { cause: error });
  }
}

/** WAL-G creates the destination with O_EXCL: an existing file (or an unwritable folder) fails before any download. */
async function checkDestinationIsNew(target: string): Promise<void> {
  let exists = true;
  try {
    await lstat(target);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw new WalgError(`open the destination file: ${pathErrorText('open', target, error)}`);
    exists = false;
  }
  if (exists) throw new WalgError(`open the destination file: open ${target}: file exists`);
  const slash = target.lastIndexOf('/');
  const directory = slash < 0 ? '.' : slash === 0 ? '/' : target.slice(0, slash);
  try {
    await access(directory, fsConstants.W_OK);
  } catch (error) {
    throw new WalgError(`open the destination file: ${pathErrorText('open', target, error)}`);
  }
}

/**
 * `st get`: downloads one object into a new file. The bytes go to a temporary name next to it and are renamed
 * into place only when complete, so a failure (bad key, damaged object, full disk) leaves no file behind.
 */
export async function getObject(folder: Folder, objectPath: string, destination: string, choice: DecodeChoice): Promise<void> {
  const target = await targetFilePath(destination, objectPath);
  await checkDestinationIsNew(target);
  const format = choice.decompress ? formatForObject(objectPath) : undefined;
  const key = objectKey(objectPath);
  try {
    // No fsync, as in WAL-G: the rename already guarantees no reader sees a partial file.
    await downloadToFile(folder, key, target, { crypter: choice.crypter, format, fsync: false });
  } catch (error) {
    const explained = await explainDecodeFailure(error, folder, key, choice, format);
    throw new WalgError(`download the file: ${errorMessage(explained)}`, 1, { cause: error });
  }
}

/** `st cat`: writes one object to `sink` (stdout). */
export async function catObject(folder: Folder, objectPath: string, sink: NodeJS.WritableStream, choice: DecodeChoice): Promise<void> {
  const format = choice.decompress ? formatForObject(objectPath) : undefined;
  const key = objectKey(objectPath);
  try {
    await downloadToStream(folder, key, sink as Writable, { crypter: choice.crypter, format });
  } catch (error) {
    const explained = await explainDecodeFailure(error, folder, key, choice, format);
    throw new WalgError(`download the file: ${errorMessage(explained)}`, 1, { cause: error });
  }
}

/** `st cat --glob`: every object the pattern matches, one after another. */
export async function catObjectsByGlob(folder: Folder, pattern: string, sink: NodeJS.WritableStream, choice: DecodeChoice): Promise<void> {
  const matches = await globFolder(folder, pattern);
  for (const objectPath of matches.objectPaths) await catObject(folder, objectPath, sink, choice);
}

/** Whether a failure comes from writing to a pipe whose reader has gone (EPIPE), anywhere in its cause chain. */
export function isBrokenPipe(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if ((current as NodeJS.ErrnoException).code === 'EPIPE') return true;
  }
  return false;
}
