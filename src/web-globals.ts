// Injected first into every bundle (esbuild.config.mjs). Without WebAssembly (the binary's --jitless) it removes the
// web globals that Node builds on undici, before any SDK can touch them.
//
// undici parses HTTP with WebAssembly. On Node 22 the first touch of one of these globals, even `typeof FormData`,
// loads undici, whose start-up then rejects a promise nobody holds, and the process dies of it; calling fetch does
// the same, and on Node 24 fetch fails too. The Azure SDK probes FormData on every request. Without the globals,
// such probes see "undefined" and SDKs take their node:http paths. `delete` is the one way that does not load
// undici: reading the property, its descriptor, or redefining it all do.

if (!('WebAssembly' in globalThis)) {
  for (const name of ['fetch', 'FormData', 'Headers', 'Request', 'Response', 'MessageEvent', 'WebSocket']) {
    delete (globalThis as Record<string, unknown>)[name];
  }
}

export {};
