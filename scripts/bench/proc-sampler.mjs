// Samples a child process's memory from /proc while it runs: VmPeak, VmHWM (peak RSS) and private writable
// mappings (the sum of rw-p regions — what vm.overcommit_memory=2 charges). Works for any binary (Go, C, Node)
// because it reads /proc from outside; VmPeak and VmHWM are kernel high-water marks, so the last sample holds them.

import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

function readStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => {
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return { vmPeakKiB: kb('VmPeak'), vmHwmKiB: kb('VmHWM'), vmRssKiB: kb('VmRSS'), threads: Number(text.match(/^Threads:\s+(\d+)/m)?.[1] ?? 0) };
}

/** Sum of private writable mappings in KiB, from /proc/PID/maps (size of every `rw-p`/`rwxp` region). */
export function privateWritableKiB(pid) {
  const text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  let total = 0;
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const perms = line.slice(sp + 1, sp + 5);
    if (perms[1] !== 'w' || perms[3] !== 'p') continue;
    const dash = line.indexOf('-');
    total += (parseInt(line.slice(dash + 1, sp), 16) - parseInt(line.slice(0, dash), 16)) / 1024;
  }
  return total;
}

/**
 * Runs cmd with args, sampling every intervalMs. Resolves with wall time, exit code, the peaks, a timeline of
 * samples ({tMs, rssKiB, privateWritableKiB}) and CPU time of the child (from /proc/PID/stat, last sample).
 */
export function runSampled(cmd, args, { env, cwd, intervalMs = 2, stdio = ['ignore', 'pipe', 'pipe'], input } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, cwd, stdio });
    const peaks = { vmPeakKiB: 0, vmHwmKiB: 0, privateWritableKiB: 0, threads: 0, cpuMs: 0 };
    const timeline = [];
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin?.end(input);
    const clkTck = 100;
    const exe = resolveExecutable(cmd);
    let execed = false;
    const sample = () => {
      try {
        // Between fork and exec the child still maps the parent's image: count only samples after exec.
        if (!execed) {
          if (readlinkSync(`/proc/${child.pid}/exe`) !== exe) return;
          execed = true;
        }
        const s = readStatus(child.pid);
        const pw = privateWritableKiB(child.pid);
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        peaks.cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / clkTck;
        peaks.vmPeakKiB = Math.max(peaks.vmPeakKiB, s.vmPeakKiB);
        peaks.vmHwmKiB = Math.max(peaks.vmHwmKiB, s.vmHwmKiB);
        peaks.privateWritableKiB = Math.max(peaks.privateWritableKiB, pw);
        peaks.threads = Math.max(peaks.threads, s.threads);
        timeline.push({ tMs: Number(process.hrtime.bigint() - started) / 1e6, rssKiB: s.vmRssKiB, privateWritableKiB: pw });
      } catch {
        /* the process is exiting or gone */
      }
    };
    sample();
    const timer = setInterval(sample, intervalMs);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ code, signal, wallMs, ...peaks, timeline, stdout, stderr });
    });
  });
}

function resolveExecutable(cmd) {
  const path = cmd.includes('/') ? cmd : execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  return realpathSync(path);
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
