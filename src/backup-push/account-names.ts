// User and group names for tar headers, looked up by numeric id in /etc/passwd and /etc/group (what Go's os/user
// finds for WAL-G), read once per backup and cached.

import { readFileSync } from 'node:fs';
import type { AccountNames } from './tar-header.ts';

/** `name:x:id:...` lines → id → first name with that id, as getpwuid/getgrgid answer. */
export function parseAccountFile(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const id = Number(fields[2]);
    if (Number.isInteger(id) && !names.has(id)) names.set(id, fields[0]);
  }
  return names;
}

function readAccountFile(path: string): Map<number, string> {
  try {
    return parseAccountFile(readFileSync(path, 'utf8'));
  } catch {
    // No such file (a minimal container): Go's lookups fail too and the names stay empty.
    return new Map();
  }
}

/** Account names from the system files, loaded on first use. */
export class SystemAccountNames implements AccountNames {
  #users: Map<number, string> | undefined;
  #groups: Map<number, string> | undefined;
  readonly #passwdPath: string;
  readonly #groupPath: string;

  constructor(passwdPath = '/etc/passwd', groupPath = '/etc/group') {
    this.#passwdPath = passwdPath;
    this.#groupPath = groupPath;
  }

  userName(uid: number): string {
    this.#users ??= readAccountFile(this.#passwdPath);
    return this.#users.get(uid) ?? '';
  }

  groupName(gid: number): string {
    this.#groups ??= readAccountFile(this.#groupPath);
    return this.#groups.get(gid) ?? '';
  }
}
