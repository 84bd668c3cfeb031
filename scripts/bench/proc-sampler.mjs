// Samples processes' memory from /proc while they run: VmPeak, VmHWM (peak RSS) and private writable mappings
// (the sum of rw-p regions — what vm.overcommit_memory=2 charges). Works for any binary (Go, C, Node) because it
// reads /proc from outside; VmPeak and VmHWM are kernel high-water marks, so the last sample of a process holds them.
//
// Two ways in: runSampled(cmd, args) spawns one command and samples it and everything it starts; ProcessTreeSampler
// watches processes someone else starts (archive_command children of a postmaster, a daemon and its clients).

import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, readdirSync, realpathSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/PID/stat times; 100 on every Linux we run on (getconf CLK_TCK). */
const clockTicksPerSecond = 100;

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
  return mappingSummaryKiB(readFileSync(`/proc/${pid}/maps`, 'utf8')).privateWritableKiB;
}

/**
 * Sizes of a /proc/PID/maps text by kind, in KiB: private writable (what overcommit charges), reserved (PROT_NONE,
 * `---p`: address space only, counted in VmPeak/VmSize but never backed), and everything mapped.
 */
export function mappingSummaryKiB(mapsText) {
  let privateWritable = 0;
  let reserved = 0;
  let total = 0;
  for (const line of mapsText.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp < 0) continue;
    const perms = line.slice(sp + 1, sp + 5);
    const dash = line.indexOf('-');
    const size = (parseInt(line.slice(dash + 1, sp), 16) - parseInt(line.slice(0, dash), 16)) / 1024;
    total += size;
    if (perms === '---p') reserved += size;
    else if (perms[1] === 'w' && perms[3] === 'p') privateWritable += size;
  }
  return { privateWritableKiB: privateWritable, reservedKiB: reserved, mappedKiB: total };
}

/** The stat fields we use: parent pid, start time (ticks since boot: tells a reused pid apart), CPU times in ms. */
export function readStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ms = (ticks) => (Number(ticks) * 1000) / clockTicksPerSecond;
  return {
    state: fields[0],
    ppid: Number(fields[1]),
    cpuMs: ms(fields[11]) + ms(fields[12]),
    // cutime + cstime: CPU of children this process has waited for, so it holds short-lived children exactly.
    childrenCpuMs: ms(fields[13]) + ms(fields[14]),
    startTicks: Number(fields[19]),
  };
}

/** CPU (user+sys, ms) of the children this process has reaped so far: exact for finished children. */
export function reapedChildrenCpuMs() {
  return readStat(process.pid).childrenCpuMs;
}

/** One process's memory and CPU now, or undefined when it is gone. */
export function readProcessSample(pid) {
  try {
    const stat = readStat(pid);
    // A zombie has let go of its memory already: its zeros are no sample.
    if (stat.state === 'Z' || stat.state === 'X') return undefined;
    const status = readStatus(pid);
    const maps = mappingSummaryKiB(readFileSync(`/proc/${pid}/maps`, 'utf8'));
    if (maps.mappedKiB === 0) return undefined;
    return { ...status, ...maps, cpuMs: stat.cpuMs, childrenCpuMs: stat.childrenCpuMs, ppid: stat.ppid };
  } catch {
    return undefined;
  }
}

function readExe(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

function readCmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Watches a set of processes by polling /proc: every process that `select` accepts, typically descendants of given
 * roots whose executable is the tool under test. Records per-process peaks and a timeline of the sums over all
 * selected live processes. The kernel here has no /proc/PID/task/TID/children, so each tick lists /proc and reads
 * the stat of pids it has not seen before; a process living shorter than one interval can be missed, and a peak
 * reached in a process's last interval is missed (both are high-water marks, so only that last interval).
 */
export class ProcessTreeSampler {
  /**
   * @param {object} options
   * @param {() => number[]} options.roots pids whose descendants count as `descendant` (evaluated every tick)
   * @param {(process: {pid: number, exe: string, descendant: boolean, isRoot: boolean, cmdline: () => string[]}) => boolean} options.select
   *   called for roots and their descendants only, again whenever such a process's exe changes (fork, then exec)
   * @param {number} [options.intervalMs]
   */
  constructor({ roots, select, intervalMs = 10 }) {
    this.roots = roots;
    this.select = select;
    this.intervalMs = intervalMs;
    /** pid -> { ppid, startTicks } of every live process seen. */
    this.known = new Map();
    /** `${pid}:${startTicks}` -> record of a selected process. */
    this.records = new Map();
    /** `${pid}:${startTicks}` of processes looked at and rejected with their current exe: exe -> rejected. */
    this.rejectedExe = new Map();
    this.timeline = [];
    this.started = 0n;
    this.timer = undefined;
  }

  start() {
    this.started = process.hrtime.bigint();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    return this;
  }

  /** Stops polling (after one last tick) and returns { processes, timeline, peaks }. */
  stop() {
    if (this.timer !== undefined) {
      this.tick();
      clearInterval(this.timer);
      this.timer = undefined;
    }
    const processes = [...this.records.values()].map(({ key, startTicks, ...record }) => record);
    return { processes, timeline: this.timeline, peaks: summarizeTimeline(this.timeline) };
  }

  elapsedMs() {
    return Number(process.hrtime.bigint() - this.started) / 1e6;
  }

  tick() {
    const tMs = this.elapsedMs();
    let entries;
    try {
      entries = readdirSync('/proc');
    } catch {
      return;
    }
    const live = new Set();
    for (const name of entries) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      const pid = Number(name);
      live.add(pid);
      if (!this.known.has(pid)) {
        try {
          const stat = readStat(pid);
          this.known.set(pid, { ppid: stat.ppid, startTicks: stat.startTicks });
        } catch {
          live.delete(pid);
        }
      }
    }
    for (const pid of this.known.keys()) if (!live.has(pid)) this.known.delete(pid);

    // Processes already selected count as roots too: what a watched process starts is watched, even after it
    // detached from the original root (pgBackRest's async archiver and its workers, WAL-G's prefetchers).
    const roots = new Set(this.roots().filter((pid) => pid !== undefined));
    for (const record of this.records.values()) if (live.has(record.pid) && this.known.get(record.pid)?.startTicks === record.startTicks) roots.add(record.pid);
    const descendantMemo = new Map();
    const isDescendant = (pid) => {
      const chain = [];
      let current = pid;
      let answer = false;
      for (let depth = 0; depth < 64; depth++) {
        if (descendantMemo.has(current)) {
          answer = descendantMemo.get(current);
          break;
        }
        const info = this.known.get(current);
        if (info === undefined || info.ppid <= 1) break;
        chain.push(current);
        if (roots.has(info.ppid)) {
          answer = true;
          break;
        }
        current = info.ppid;
      }
      for (const visited of chain) descendantMemo.set(visited, answer);
      return answer;
    };

    let count = 0;
    let rssKiB = 0;
    let privateWritable = 0;
    for (const [pid, info] of this.known) {
      const key = `${pid}:${info.startTicks}`;
      let record = this.records.get(key);
      if (record === undefined) {
        // Only roots and their descendants are looked at: reading every process's exe each tick would cost more
        // than the processes under test. A process that detaches later (double fork) stays watched once selected.
        const isRoot = roots.has(pid);
        const descendant = !isRoot && isDescendant(pid);
        if (!isRoot && !descendant) continue;
        const exe = readExe(pid);
        if (exe === undefined) continue;
        // Roots are few and may change their mind without a new exe (see runSampled), so they are asked every tick.
        if (!isRoot && this.rejectedExe.get(key) === exe) continue;
        const candidate = { pid, exe, descendant, isRoot, cmdline: () => readCmdline(pid) };
        if (!this.select(candidate)) {
          // Rejected for this exe only: a forked shell that execs the tool next tick is looked at again.
          if (!isRoot) this.rejectedExe.set(key, exe);
          continue;
        }
        record = {
          key,
          pid,
          startTicks: info.startTicks,
          parentPid: info.ppid,
          exe,
          firstMs: tMs,
          lastMs: tMs,
          vmPeakKiB: 0,
          vmHwmKiB: 0,
          privateWritableKiB: 0,
          threads: 0,
          cpuMs: 0,
        };
        this.records.set(key, record);
      }
      const sample = readProcessSample(pid);
      if (sample === undefined) continue;
      record.lastMs = tMs;
      record.vmPeakKiB = Math.max(record.vmPeakKiB, sample.vmPeakKiB);
      record.vmHwmKiB = Math.max(record.vmHwmKiB, sample.vmHwmKiB);
      record.privateWritableKiB = Math.max(record.privateWritableKiB, sample.privateWritableKiB);
      record.threads = Math.max(record.threads, sample.threads);
      record.cpuMs = Math.max(record.cpuMs, sample.cpuMs);
      count++;
      rssKiB += sample.vmRssKiB;
      privateWritable += sample.privateWritableKiB;
    }
    for (const key of this.rejectedExe.keys()) {
      const pid = Number(key.slice(0, key.indexOf(':')));
      if (!this.known.has(pid)) this.rejectedExe.delete(key);
    }
    this.timeline.push({ tMs: +tMs.toFixed(1), processes: count, rssKiB, privateWritableKiB: privateWritable });
  }
}

function summarizeTimeline(timeline) {
  let totalRssPeakKiB = 0;
  let totalPrivateWritablePeakKiB = 0;
  let maxProcesses = 0;
  for (const point of timeline) {
    totalRssPeakKiB = Math.max(totalRssPeakKiB, point.rssKiB);
    totalPrivateWritablePeakKiB = Math.max(totalPrivateWritablePeakKiB, point.privateWritableKiB);
    maxProcesses = Math.max(maxProcesses, point.processes);
  }
  return { totalRssPeakKiB, totalPrivateWritablePeakKiB, maxProcesses };
}

/** Largest value of `key` over process records, or 0. */
export function maxOf(records, key) {
  let best = 0;
  for (const record of records) best = Math.max(best, record[key]);
  return best;
}

/**
 * Runs cmd with args, sampling it and every process it starts every intervalMs. Resolves with wall time, exit code,
 * the peaks (of the largest process: VmPeak, VmHWM, private writable, threads), the sums over time
 * (totalRssPeakKiB: what all the processes held at once), a timeline of samples ({tMs, processes, rssKiB,
 * privateWritableKiB}), per-process records, and cpuMs: user+sys of the whole process tree, exact (the kernel's
 * account of reaped children), as long as no other child of this process finishes meanwhile — the harness runs
 * one sampled command at a time.
 * Options: env, cwd, intervalMs, stdio, input, uid/gid (run as another user; root only), timeoutMs (SIGKILL).
 */
export function runSampled(cmd, args, { env, cwd, intervalMs = 2, stdio = ['ignore', 'pipe', 'pipe'], input, uid, gid, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    const ownExe = realpathSync(process.execPath);
    const ownCmdline = readCmdline(process.pid).join('\0');
    const cpuBefore = reapedChildrenCpuMs();
    const started = process.hrtime.bigint();
    const switchUser = uid !== undefined && process.getuid?.() === 0 && uid !== 0;
    const child = spawn(cmd, args, {
      env,
      cwd,
      stdio: input !== undefined && stdio[0] === 'ignore' ? ['pipe', stdio[1], stdio[2]] : stdio,
      ...(switchUser ? { uid, gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.stdin?.on('error', () => {});
    if (input !== undefined) child.stdin?.end(input);
    const sampler = new ProcessTreeSampler({
      roots: () => [child.pid],
      // Between fork and exec the child still maps this process's image: count it only once it has exec'ed (its
      // exe or, when it runs the same Node binary as this harness, its command line differs from ours).
      select: ({ exe, descendant, isRoot, cmdline }) => descendant || (isRoot && (exe !== ownExe || cmdline().join('\0') !== ownCmdline)),
      intervalMs,
    });
    const timeoutTimer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    // Started after spawn: the child's pid is known.
    sampler.start();
    child.on('error', (err) => {
      sampler.stop();
      clearTimeout(timeoutTimer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      clearTimeout(timeoutTimer);
      const { processes, timeline, peaks } = sampler.stop();
      const sampledCpuMs = processes.reduce((sum, record) => sum + record.cpuMs, 0);
      const cpuMs = Math.max(reapedChildrenCpuMs() - cpuBefore, sampledCpuMs);
      resolve({
        code,
        signal,
        wallMs,
        vmPeakKiB: maxOf(processes, 'vmPeakKiB'),
        vmHwmKiB: maxOf(processes, 'vmHwmKiB'),
        privateWritableKiB: maxOf(processes, 'privateWritableKiB'),
        threads: maxOf(processes, 'threads'),
        cpuMs,
        ...peaks,
        processes,
        timeline,
        stdout,
        stderr,
      });
    });
  });
}

/** A tool the run needs is not installed: reported in one line, without a stack. */
export class MissingToolError extends Error {}

/** The real path of an executable given by path or by name on PATH. */
export function resolveExecutable(cmd) {
  let path = cmd;
  if (!cmd.includes('/')) {
    try {
      path = execFileSync('sh', ['-c', 'command -v "$0"', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      throw new MissingToolError(`${cmd} is not on PATH${cmd === 'pgbackrest' ? ': install it with `bash scripts/bench/setup.sh` (as root), or leave out --pgbackrest' : ''}`);
    }
  }
  try {
    return realpathSync(path);
  } catch {
    throw new MissingToolError(`${path} does not exist: pass the path of an executable`);
  }
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
