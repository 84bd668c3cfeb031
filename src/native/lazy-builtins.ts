// Node builtins that are not in Node's start-up snapshot cost time when first loaded (node:crypto about 30 ms
// under --jitless, node:child_process 14 ms, node:v8 9 ms), and most runs of a wal-push need none of them.
// These accessors load one on first use; process.getBuiltinModule is synchronous and works in the bundle and
// under type stripping alike.

export function nodeCrypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}

export function nodeChildProcess(): typeof import('node:child_process') {
  return process.getBuiltinModule('node:child_process');
}

export function nodeV8(): typeof import('node:v8') {
  return process.getBuiltinModule('node:v8');
}

export function nodeVm(): typeof import('node:vm') {
  return process.getBuiltinModule('node:vm');
}

/**
 * node:fs/promises pulls in readline and the REPL history module when it loads (~10 ms of CPU under --jitless), and
 * wal-push, whose local file work is synchronous (src/storage/local-fs.ts), never calls it.
 */
export function nodeFsPromises(): typeof import('node:fs/promises') {
  return process.getBuiltinModule('node:fs/promises');
}
