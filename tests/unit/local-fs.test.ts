// src/storage/local-fs.ts: the same results and errors whether the calls go through libuv's pool or run
// synchronously on the main thread (wal-push's mode).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as localFs from '../../src/storage/local-fs.ts';

for (const synchronous of [false, true]) {
  test(`local-fs ${synchronous ? 'synchronous' : 'through the pool'}: files, folders and errors as rejections with their codes`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'walnut-localfs-'));
    localFs.useSynchronousLocalIo(synchronous);
    t.after(() => {
      localFs.useSynchronousLocalIo(false);
      rmSync(dir, { recursive: true, force: true });
    });
    const folder = join(dir, 'a', 'b');
    await localFs.mkdir(folder, { recursive: true, mode: 0o755 });
    const path = join(folder, 'file');
    const file = await localFs.open(path, 'wx', 0o600);
    const data = Buffer.from('walnut local io');
    assert.equal((await file.write(data, 0, 6)).bytesWritten, 6);
    assert.equal((await file.write(data, 6, data.length - 6)).bytesWritten, data.length - 6);
    await file.sync();
    await file.close();
    assert.equal(readFileSync(path, 'utf8'), 'walnut local io');
    await assert.rejects(localFs.open(path, 'wx', 0o600), { code: 'EEXIST' }, 'O_EXCL refuses an existing file');
    const reader = await localFs.open(path, 'r');
    const buffer = Buffer.alloc(6);
    assert.equal((await reader.read(buffer, 0, 6, 7)).bytesRead, 6);
    assert.equal(buffer.toString(), 'local ');
    await reader.close();
    assert.equal((await localFs.stat(path)).size, data.length);
    assert.equal((await localFs.stat(path, { bigint: true })).size, BigInt(data.length));
    await localFs.link(path, join(folder, 'linked'));
    await localFs.rename(join(folder, 'linked'), join(folder, 'renamed'));
    await localFs.writeFile(join(folder, 'empty'), '', { mode: 0o644 });
    assert.deepEqual((await localFs.readdir(folder)).sort(), ['empty', 'file', 'renamed']);
    await localFs.unlink(join(folder, 'renamed'));
    const missing = join(dir, 'missing');
    await assert.rejects(localFs.open(missing, 'r'), (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && error.message.includes(missing));
    await assert.rejects(localFs.stat(missing), { code: 'ENOENT' });
    await assert.rejects(localFs.readdir(missing), { code: 'ENOENT' });
    await assert.rejects(localFs.unlink(missing), { code: 'ENOENT' });
  });
}
