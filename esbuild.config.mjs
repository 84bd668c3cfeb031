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
  lzma: { file: nm('@napi-rs/lzma-linux-x64-gnu/lzma.linux-x64-gnu.node'), loader: /node_modules[\\/]@napi-rs[\\/]lzma[\\/]index\.js$/ },
  sodium: { file: nm('sodium-native/prebuilds/linux-x64/sodium-native.node'), loader: /node_modules[\\/]sodium-native[\\/]binding\.js$/ },
  // walnut's own (src/native/c, built by scripts/build-native.mjs): LZ4 blocks both ways, xxHash32, page checksums,
  // process memory controls. Loaded by src/native/walnut-native.ts, no JS loader to replace. (lz4-napi and
  // @node-rs/xxhash, which it replaced, stay as devDependencies: the tests cross-check against them.)
  walnut: { file: join(root, 'build/native/walnut-native.node'), loader: undefined },
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
const chunksModule = join(root, 'src/native/chunks.ts');

/**
 * Libraries bundled as separate scripts (SEA assets) and compiled only when a command imports them; see
 * src/native/chunks.ts. Each chunk maps the module ids the source imports to that chunk.
 */
export const lazyChunks = {
  aws: ['@aws-sdk/client-s3', '@smithy/node-http-handler', '@smithy/credential-provider-imds', '@aws-sdk/nested-clients/sts'],
  azure: ['@azure/storage-blob'],
  gcs: ['@google-cloud/storage'],
  ssh2: ['ssh2'],
  pg: ['pg'],
  openpgp: ['openpgp'],
};
const chunkOfModule = new Map(Object.entries(lazyChunks).flatMap(([chunk, ids]) => ids.map((id) => [id, chunk])));

/** In the main script, an import of a chunked library becomes a lookup in the loaded chunk. */
const chunkedImports = {
  name: 'chunked-imports',
  setup(build) {
    const filter = new RegExp(`^(${[...chunkOfModule.keys()].map((id) => id.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'walnut-chunk' }));
    build.onLoad({ filter: /.*/, namespace: 'walnut-chunk' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(chunksModule)}).loadChunk(${JSON.stringify(chunkOfModule.get(args.path))})[${JSON.stringify(args.path)}];`,
      loader: 'js',
      resolveDir: root,
    }));
  },
};

/** esbuild options for one chunk: a CommonJS script whose exports map each module id to its exports. */
export function chunkEsbuildOptions(name, outfile) {
  const ids = lazyChunks[name];
  return {
    stdin: {
      contents: `module.exports = {${ids.map((id) => `${JSON.stringify(id)}: require(${JSON.stringify(id)})`).join(', ')}};`,
      resolveDir: root,
      loader: 'js',
    },
    outfile,
    ...sharedOptions(),
    plugins: [ssh2WasmPoly1305],
  };
}

const embeddedAddonLoaders = {
  name: 'embedded-addon-loaders',
  setup(build) {
    for (const [name, { loader }] of Object.entries(nativeAddons)) {
      if (loader === undefined) continue;
      build.onLoad({ filter: loader }, () => ({
        contents: `module.exports = require(${JSON.stringify(addonsModule)}).loadEmbeddedAddon(${JSON.stringify(name)});`,
        loader: 'js',
        resolveDir: root,
      }));
    }
  },
};

// ssh2 instantiates a WebAssembly poly1305 at load; under --jitless WebAssembly does not exist, so the module is
// replaced by one whose use fails with a clear message. Only the chacha20-poly1305@openssh.com cipher needs it,
// and walnut's SFTP driver does not offer that cipher.
const ssh2WasmPoly1305 = {
  name: 'ssh2-no-wasm-poly1305',
  setup(build) {
    build.onLoad({ filter: /node_modules[\\/]ssh2[\\/]lib[\\/]protocol[\\/]crypto[\\/]poly1305\.js$/ }, () => ({
      contents: "module.exports = () => Promise.resolve({ _malloc: () => 0, cwrap: () => () => { throw new Error('chacha20-poly1305 is not available in this build'); }, HEAPU8: new Uint8Array(16) });",
      loader: 'js',
    }));
  },
};

// src/native/lazy-require.ts loads heavy modules on first use through createRequire(import.meta.url), which a
// CJS bundle cannot resolve; here its calls become plain require()s, so esbuild bundles those modules and
// still initialises them only when the function is first called.
const lazyRequireForBundle = {
  name: 'lazy-require-for-bundle',
  setup(build) {
    build.onLoad({ filter: /src[\\/]native[\\/]lazy-require\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const rewritten = source
        .replace(/^import \{ createRequire \} from 'node:module';$/m, '')
        .replace(/^const requireHere = createRequire\(import\.meta\.url\);$/m, '')
        .replaceAll('requireHere(', 'require(');
      if (rewritten.includes('requireHere') || rewritten.includes('import.meta')) {
        throw new Error(`${args.path}: lazy-require rewrite did not apply; update esbuild.config.mjs`);
      }
      return { contents: rewritten, loader: 'ts' };
    });
  },
};

function sharedOptions() {
  return {
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    keepNames: false,
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'warning',
    // Optional peers the bundled libraries probe for at run time but we never use (ssh2 falls back to JS crypto
    // without its sshcrypto.node); our own addons are loaded through embeddedAddonLoaders, not plain requires.
    external: ['pg-native', 'cpu-features', '*.node', 'electron'],
    // Runs before anything else in the bundle: without WebAssembly (--jitless) it removes the globals built on
    // undici (fetch, FormData, ...), whose mere touch kills a Node 22 process. See the file.
    inject: [join(root, 'src/web-globals.ts')],
    // openpgp's ESM build calls createRequire(import.meta.url) at load, which a CJS bundle cannot satisfy.
    // @azure/* resolve to their ESM builds by default, which pull in top-level await helpers; take the CJS ones.
    alias: {
      openpgp: nm('openpgp/dist/node/openpgp.min.cjs'),
      '@azure/storage-blob': nm('@azure/storage-blob/dist/commonjs/index.js'),
      '@azure/storage-common': nm('@azure/storage-common/dist/commonjs/index.js'),
    },
  };
}

/**
 * esbuild options for the main script. chunkAssets (chunk name -> SEA asset key) is empty when the chunks
 * are bundled in (the daemon client, which needs none of them, and tools that want one file).
 */
export function esbuildOptions({ version, revision, buildDate, entry = 'src/main.ts', outfile = 'build/walnut.cjs', chunkAssets }) {
  return {
    entryPoints: [join(root, entry)],
    outfile: join(root, outfile),
    ...sharedOptions(),
    define: {
      __WALNUT_VERSION__: JSON.stringify(version),
      __WALNUT_REVISION__: JSON.stringify(revision),
      __WALNUT_BUILD_DATE__: JSON.stringify(buildDate),
      __WALNUT_ADDON_ASSETS__: JSON.stringify(addonAssetKeys()),
      __WALNUT_CHUNK_ASSETS__: JSON.stringify(chunkAssets ?? {}),
    },
    plugins: [embeddedAddonLoaders, ssh2WasmPoly1305, lazyRequireForBundle, ...(chunkAssets ? [chunkedImports] : [])],
    // src/native/walnut-native.ts reads import.meta.url only when run from sources, never in the binary.
    logOverride: { 'empty-import-meta': 'silent' },
  };
}
