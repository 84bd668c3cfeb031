// The deprecated GPG_KEY_ID path: the key ring is exported from the local gpg installation, as WAL-G does.

import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { WalgError } from '../errors.ts';
import { log } from '../log/logger.ts';
import type { OpenPgpKeySource } from './openpgp.ts';
import { nodeChildProcess } from '../native/lazy-builtins.ts';

/** WAL-G's warning, printed when the legacy path is chosen. */
export const DEPRECATED_EXTERNAL_GPG_MESSAGE =
  'You are using deprecated functionality that uses an external gpg library.\n' +
  'It will be removed in next major version.\n' +
  'Please set GPG key using environment variables WALG_PGP_KEY or WALG_PGP_KEY_PATH.\n';

/** The exported public key is cached here between runs, in WAL-G's format: {"keyId": ..., "body": base64}. */
export function externalGpgCacheFile(): string | undefined {
  try {
    return join(userInfo().homedir, '.walg_key_cache');
  } catch {
    return undefined;
  }
}

export interface ExternalGpgOptions {
  /** The gpg executable; WAL-G runs `gpg` from PATH. */
  gpgBinary?: string;
  /** Where the public key export is cached; undefined disables the cache. */
  cacheFile?: string | undefined;
}

/** Key source running `gpg -a --export <id>` (cached) for encryption and `gpg -a --export-secret-key <id>` for decryption. */
export function externalGpgKeySource(keyId: string, options: ExternalGpgOptions = {}): OpenPgpKeySource {
  const gpgBinary = options.gpgBinary ?? 'gpg';
  const cacheFile = 'cacheFile' in options ? options.cacheFile : externalGpgCacheFile();
  return {
    description: `the gpg key ${keyId} (WALG_GPG_KEY_ID)`,
    publicKeyArmor(): string {
      const cached = cacheFile ? readCachedKey(cacheFile, keyId) : undefined;
      if (cached) return cached;
      const armor = runGpgExport(gpgBinary, ['-a', '--export', keyId], true);
      if (cacheFile) writeCachedKey(cacheFile, keyId, armor);
      return armor;
    },
    privateKeyArmor(): string {
      return runGpgExport(gpgBinary, ['-a', '--export-secret-key', keyId], false);
    },
  };
}

// `gpg --export` of an unknown id exits 0 and only complains on stderr, so stderr counts as failure there.
function runGpgExport(gpgBinary: string, args: string[], stderrIsFailure: boolean): string {
  const result = nodeChildProcess().spawnSync(gpgBinary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20 });
  const stderr = (result.stderr ?? '').trim();
  if (result.error) {
    throw new WalgError(`cannot run ${gpgBinary} ${args.join(' ')}: ${result.error.message}; is gpg installed?`);
  }
  if (result.status !== 0) {
    throw new WalgError(`${gpgBinary} ${args.join(' ')} failed (exit ${result.status}): ${stderr || 'no message'}`);
  }
  if (stderrIsFailure && stderr.length > 0) {
    throw new WalgError(`Got error while exporting gpg key: '${stderr}'`);
  }
  if (result.stdout.trim().length === 0) {
    throw new WalgError(`${gpgBinary} ${args.join(' ')} exported nothing; is the key in the local gpg key ring?`);
  }
  return result.stdout;
}

function readCachedKey(cacheFile: string, keyId: string): string | undefined {
  try {
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as { keyId?: unknown; body?: unknown };
    if (cache.keyId !== keyId || typeof cache.body !== 'string' || cache.body.length === 0) return undefined;
    return Buffer.from(cache.body, 'base64').toString('utf8');
  } catch {
    return undefined; // a missing or unreadable cache only means exporting again
  }
}

function writeCachedKey(cacheFile: string, keyId: string, armor: string): void {
  try {
    writeFileSync(cacheFile, JSON.stringify({ keyId, body: Buffer.from(armor, 'utf8').toString('base64') }), { mode: 0o644 });
  } catch (err) {
    log.error(`cannot write the gpg key cache ${cacheFile}: ${(err as Error).message}`);
  }
}
