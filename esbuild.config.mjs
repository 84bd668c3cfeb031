// esbuild configuration: bundles src/main.ts into one CommonJS file for the Node SEA, with each native
// addon's loader replaced by a loader that dlopens the addon from the SEA's assets.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(fileURLToPath(import.meta.url));
const nm = (p) => join(root, 'node_modules', p);

/** Native addons carried inside the binary: name -> the .node file and the JS file whose loader we replace. */
export const nativeAddons = {
  lz4: { file: nm('@antoniomuso/lz4-napi-linux-x64-gnu/lz4-napi.linux-x64-gnu.node'), loader: /node_modules[\\/]lz4-napi[\\/]index\.js$/ },
  lzma: { file: nm('@napi-rs/lzma-linux-x64-gnu/lzma.linux-x64-gnu.node'), loader: /node_modules[\\/]@napi-rs[\\/]lzma[\\/]index\.js$/ },
  sodium: { file: nm('sodium-native/prebuilds/linux-x64/sodium-native.node'), loader: /node_modules[\\/]sodium-native[\\/]binding\.js$/ },
  xxhash: { file: nm('@node-rs/xxhash-linux-x64-gnu/xxhash.linux-x64-gnu.node'), loader: /node_modules[\\/]@node-rs[\\/]xxhash[\\/]index\.js$/ },
};

/** SEA asset key per addon: the content hash in the name means a stale cached copy is never reused. */
export function addonAssetKeys() {
  const keys = {};
  for (const [name, { file }] of Object.entries(nativeAddons)) {
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
    keys[name] = `${name}-${hash}.node`;
  }
  return keys;
}

const addonsModule = join(root, 'src/native/addons.ts');

const embeddedAddonLoaders = {
  name: 'embedded-addon-loaders',
  setup(build) {
    for (const [name, { loader }] of Object.entries(nativeAddons)) {
      build.onLoad({ filter: loader }, () => ({
        contents: `module.exports = require(${JSON.stringify(addonsModule)}).loadEmbeddedAddon(${JSON.stringify(name)});`,
        loader: 'js',
        resolveDir: root,
      }));
    }
  },
};

export function esbuildOptions({ version, revision, buildDate, entry = 'src/main.ts', outfile = 'build/walnut.cjs' }) {
  return {
    entryPoints: [join(root, entry)],
    outfile: join(root, outfile),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'warning',
    // Optional peers the bundled libraries probe for at run time but we never use (ssh2 falls back to JS crypto
    // without its sshcrypto.node); our own addons are loaded through embeddedAddonLoaders, not plain requires.
    external: ['pg-native', 'cpu-features', '*.node', 'electron'],
    // openpgp's ESM build calls createRequire(import.meta.url) at load, which a CJS bundle cannot satisfy.
    alias: { openpgp: nm('openpgp/dist/node/openpgp.min.cjs') },
    define: {
      __WALNUT_VERSION__: JSON.stringify(version),
      __WALNUT_REVISION__: JSON.stringify(revision),
      __WALNUT_BUILD_DATE__: JSON.stringify(buildDate),
      __WALNUT_ADDON_ASSETS__: JSON.stringify(addonAssetKeys()),
    },
    plugins: [embeddedAddonLoaders],
  };
}
