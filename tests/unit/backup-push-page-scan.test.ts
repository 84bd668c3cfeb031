// Delta page selection by page LSN: WAL-G's page header validity rules and which pages an increment carries.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classifyPage, scanChangedBlocks, splitLsn } from '../../src/backup-push/page-scan.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const PAGE = 8192;

/** A page with a valid header at `lsn` (pd_lower 28, pd_upper 8000, pd_special 8192, version 4). */
function page(lsn: bigint, overrides: { flags?: number; lower?: number; upper?: number; special?: number; sizeVersion?: number } = {}): Buffer {
  const buffer = Buffer.alloc(PAGE);
  buffer.writeUInt32LE(Number(lsn >> 32n), 0);
  buffer.writeUInt32LE(Number(lsn & 0xffffffffn), 4);
  buffer.writeUInt16LE(overrides.flags ?? 0, 10);
  buffer.writeUInt16LE(overrides.lower ?? 28, 12);
  buffer.writeUInt16LE(overrides.upper ?? 8000, 14);
  buffer.writeUInt16LE(overrides.special ?? PAGE, 16);
  buffer.writeUInt16LE(overrides.sizeVersion ?? PAGE | 4, 18);
  return buffer;
}

const PARENT = 0x1_0000_2000n;

test('a valid page at or after the parent LSN is changed, an older one unchanged', () => {
  const parent = splitLsn(PARENT);
  assert.equal(classifyPage(page(PARENT), 0, PAGE, parent), 'changed');
  assert.equal(classifyPage(page(PARENT + 1n), 0, PAGE, parent), 'changed');
  assert.equal(classifyPage(page(0x2_0000_0000n), 0, PAGE, parent), 'changed');
  assert.equal(classifyPage(page(PARENT - 1n), 0, PAGE, parent), 'unchanged');
  assert.equal(classifyPage(page(0x0_ffff_ffffn), 0, PAGE, parent), 'unchanged');
});

test('a new page (pd_upper 0, e.g. all zeros) is always sent', () => {
  assert.equal(classifyPage(Buffer.alloc(PAGE), 0, PAGE, splitLsn(PARENT)), 'changed');
});

test('headers WAL-G rejects make the page invalid', () => {
  const parent = splitLsn(PARENT);
  const invalid = [
    page(PARENT, { flags: 8 }),
    page(PARENT, { lower: 20 }),
    page(PARENT, { lower: 8100, upper: 8000 }),
    page(PARENT, { upper: 8192, special: 8000 }),
    page(PARENT, { special: 9000 }),
    page(0n),
    page(PARENT, { sizeVersion: 4096 | 4 }),
    page(PARENT, { sizeVersion: PAGE | 6 }),
  ];
  for (const candidate of invalid) assert.equal(classifyPage(candidate, 0, PAGE, parent), 'invalid');
  assert.equal(classifyPage(page(PARENT, { flags: 7, sizeVersion: PAGE | 5 }), 0, PAGE, parent), 'changed');
});

test('a scan lists the changed pages in order, and gives up on a file with an invalid page', async () => {
  const directory = makeTempDir();
  const path = join(directory, '16384');
  const pages = [page(PARENT - 5n), page(PARENT + 7n), Buffer.alloc(PAGE), page(PARENT - 1n), page(PARENT)];
  await writeFile(path, Buffer.concat(pages));
  const file = await open(path, 'r');
  try {
    assert.deepEqual([...(await scanChangedBlocks(file, 5 * PAGE, PARENT, PAGE))!], [1, 2, 4]);
    // Pages past the size recorded at walk time are not looked at; a small read buffer gives the same answer.
    assert.deepEqual([...(await scanChangedBlocks(file, 2 * PAGE, PARENT, PAGE, { buffer: Buffer.alloc(PAGE) }))!], [1]);
    // A file that shrank since the walk: the scan stops at its end.
    assert.deepEqual([...(await scanChangedBlocks(file, 9 * PAGE, PARENT, PAGE))!], [1, 2, 4]);
  } finally {
    await file.close();
  }
  await writeFile(path, Buffer.concat([page(PARENT + 1n), page(PARENT, { lower: 3 })]));
  const broken = await open(path, 'r');
  try {
    assert.equal(await scanChangedBlocks(broken, 2 * PAGE, PARENT, PAGE), undefined);
  } finally {
    await broken.close();
  }
});
