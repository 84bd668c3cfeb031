// Startup cost and idle memory of a wal-g-compatible binary: runs `BIN --version` N times and reports medians.
// Usage: node scripts/bench/startup.mjs [--runs 15] BIN [BIN ...]

import { runSampled, median } from './proc-sampler.mjs';

const argv = process.argv.slice(2);
let runs = 15;
const bins = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs') runs = Number(argv[++i]);
  else bins.push(argv[i]);
}
if (!bins.length) bins.push('dist/wal-g');

const rows = [];
for (const bin of bins) {
  const results = [];
  for (let i = 0; i < runs + 2; i++) {
    const r = await runSampled(bin, ['--version'], { intervalMs: 1 });
    if (r.code !== 0) throw new Error(`${bin} --version exited ${r.code}: ${r.stderr}`);
    if (i >= 2) results.push(r); // two warm-up runs fill the page cache (and the addon cache)
  }
  const pick = (k) => median(results.map((r) => r[k]));
  rows.push({
    binary: bin,
    runs,
    wallMs: +pick('wallMs').toFixed(1),
    vmPeakMiB: +(pick('vmPeakKiB') / 1024).toFixed(1),
    peakRssMiB: +(pick('vmHwmKiB') / 1024).toFixed(1),
    privateWritableMiB: +(pick('privateWritableKiB') / 1024).toFixed(1),
    threads: pick('threads'),
  });
}
console.log(JSON.stringify(rows, null, 2));
console.log('\n| binary | wall ms | VmPeak MiB | peak RSS MiB | private writable MiB | threads |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.binary} | ${r.wallMs} | ${r.vmPeakMiB} | ${r.peakRssMiB} | ${r.privateWritableMiB} | ${r.threads} |`);
