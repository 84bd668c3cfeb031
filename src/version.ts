// The version triple `wal-g --version` prints; the release build defines the three globals, a source checkout says `devel`.

declare const __WALNUT_VERSION__: string | undefined;
declare const __WALNUT_REVISION__: string | undefined;
declare const __WALNUT_BUILD_DATE__: string | undefined;

/** Release tag, e.g. `v3.0.8`; `devel` when not built by scripts/build.mjs (WAL-G's own fallback). */
export const VERSION: string = typeof __WALNUT_VERSION__ === 'string' && __WALNUT_VERSION__ !== '' ? __WALNUT_VERSION__ : 'devel';

/** Short git commit hash of the build. */
export const REVISION: string =
  typeof __WALNUT_REVISION__ === 'string' && __WALNUT_REVISION__ !== '' ? __WALNUT_REVISION__ : 'devel';

/** UTC build time as `YYYY.MM.DD_HH:MM:SS`. */
export const BUILD_DATE: string =
  typeof __WALNUT_BUILD_DATE__ === 'string' && __WALNUT_BUILD_DATE__ !== '' ? __WALNUT_BUILD_DATE__ : 'devel';
