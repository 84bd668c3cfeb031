// Turns benchmark measurements into summaries: medians with spread, candidate/reference ratios checked against the
// issue's goals, the markdown report and the charts.

import { lineChartSvg, thinPoints } from './svg-chart.mjs';

/**
 * Figures measured for WAL-G v3.0.8 on a machine like this one (file storage, lz4), quoted by the Performance issue.
 * Not from this run: they stand in for a reference binary when none is given.
 */
export const quotedWalgFigures = {
  source: 'issue 6 (Performance), measured for WAL-G v3.0.8 elsewhere on this kind of machine, file storage, lz4',
  operations: {
    'wal-push': { wallMs: 180, vmPeakKiB: 1.7 * 1024 * 1024, vmHwmKiB: 59 * 1024, privateWritableKiB: 130 * 1024, note: 'one 16 MiB segment' },
    'backup-push/pgbench': { wallMs: 2400, vmHwmKiB: 77 * 1024, vmPeakKiB: 1.77 * 1024 * 1024, note: '774 MiB of pgbench data (scale 50)' },
    'backup-fetch/pgbench': { wallMs: 4000, vmHwmKiB: 75 * 1024, note: 'the scale-50 backup above' },
  },
};

/** The issue's acceptance goals: candidate ÷ reference at most this much. */
export const ratioGoals = { vmPeakKiB: 0.3, privateWritableKiB: 0.3, vmHwmKiB: 1.0, wallMs: 1.0 };

const metricNames = { vmPeakKiB: 'VmPeak', privateWritableKiB: 'private writable', vmHwmKiB: 'peak RSS', wallMs: 'wall' };

/** Median, quartiles, min and max of numbers (undefined entries ignored); undefined for no values. */
export function spread(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return undefined;
  const at = (q) => {
    const position = (sorted.length - 1) * q;
    const low = Math.floor(position);
    const high = Math.ceil(position);
    return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
  };
  return { n: sorted.length, median: at(0.5), q1: at(0.25), q3: at(0.75), min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Summaries of every numeric field of run records: field -> spread. */
export function summarizeRuns(runs) {
  const fields = new Set();
  for (const run of runs) for (const [key, value] of Object.entries(run)) if (typeof value === 'number') fields.add(key);
  const summary = {};
  for (const field of fields) summary[field] = spread(runs.map((run) => run[field]));
  return summary;
}

/** The run whose `field` is the median one (for charts: a typical run, not an average of shapes). */
export function medianRun(runs, field = 'wallMs') {
  const usable = runs.filter((run) => typeof run[field] === 'number');
  if (!usable.length) return undefined;
  const sorted = [...usable].sort((a, b) => a[field] - b[field]);
  return sorted[(sorted.length - 1) >> 1];
}

/**
 * candidate ÷ reference for each goal metric of one operation, with the verdict against the goal. `reference` is a
 * summary (field -> spread) or quoted figures (field -> number). Missing on either side: no ratio.
 */
export function ratioChecks(candidateSummary, reference, { quoted = false } = {}) {
  const checks = [];
  for (const [metric, goal] of Object.entries(ratioGoals)) {
    const candidate = candidateSummary?.[metric]?.median;
    const referenceValue = typeof reference?.[metric] === 'number' ? reference[metric] : reference?.[metric]?.median;
    if (candidate === undefined || referenceValue === undefined || referenceValue === 0) continue;
    const ratio = candidate / referenceValue;
    checks.push({ metric, name: metricNames[metric], candidate, reference: referenceValue, ratio, goal, met: ratio <= goal, quoted });
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

export function mib(kib) {
  return kib === undefined ? '–' : (kib / 1024).toFixed(kib >= 100 * 1024 ? 0 : 1);
}

function seconds(ms) {
  return ms === undefined ? '–' : (ms / 1000).toFixed(ms >= 10_000 ? 1 : 2);
}

/** "median (min–max)" of a spread through a formatter; "–" when absent. */
export function formatSpread(s, format) {
  if (!s) return '–';
  if (s.n === 1 || s.min === s.max) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

const columnFormats = {
  wallMs: ['wall s', seconds],
  perSegmentWallMs: ['per segment s', seconds],
  throughputMiBps: ['MiB/s', (v) => v.toFixed(1)],
  segmentsPerSecond: ['segments/s', (v) => v.toFixed(2)],
  cpuMs: ['CPU s', seconds],
  vmPeakKiB: ['VmPeak MiB', mib],
  vmHwmKiB: ['peak RSS MiB', mib],
  privateWritableKiB: ['private writable MiB', mib],
  medianVmHwmKiB: ['median process RSS MiB', mib],
  medianPrivateWritableKiB: ['median process private writable MiB', mib],
  totalRssPeakKiB: ['all processes RSS MiB', mib],
  processes: ['processes', (v) => String(Math.round(v))],
  backlogMax: ['max .ready backlog', (v) => String(Math.round(v))],
  drainMs: ['drain after load s', seconds],
  pgbenchTps: ['pgbench tps', (v) => v.toFixed(0)],
  loadWalMiBps: ['load WAL MiB/s', (v) => v.toFixed(1)],
  replayedSegments: ['segments', (v) => String(Math.round(v))],
  archivedSegments: ['archived', (v) => String(Math.round(v))],
  failedAttempts: ['failed attempts', (v) => String(Math.round(v))],
};

/** A markdown table of one operation: one row per tool, the columns the operation lists. */
export function operationTable(operation) {
  const columns = operation.columns.filter((column) => columnFormats[column]);
  const header = ['tool', 'runs', ...columns.map((column) => columnFormats[column][0])];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const [label, entry] of Object.entries(operation.tools)) {
    if (!entry.available) {
      lines.push(`| ${label} | – | not available: ${escapeCell(entry.reason ?? 'unknown')} |${' |'.repeat(columns.length - 1)}`);
      continue;
    }
    const cells = columns.map((column) => formatSpread(entry.summary[column], columnFormats[column][1]));
    lines.push(`| ${label}${entry.note ? ` (${escapeCell(entry.note)})` : ''} | ${entry.runs.length} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function escapeCell(text) {
  return String(text).replaceAll('|', '\\|').replaceAll('\n', ' ').slice(0, 200);
}

export function ratioTable(rows) {
  const lines = ['| operation | reference | metric | candidate | reference value | ratio | goal | met |', '|---|---|---|---|---|---|---|---|'];
  for (const row of rows) {
    const format = row.metric === 'wallMs' ? (v) => `${seconds(v)} s` : (v) => `${mib(v)} MiB`;
    lines.push(
      `| ${row.operation} | ${row.referenceLabel}${row.quoted ? ' (quoted figure, not this run)' : ''} | ${row.name}${row.metricNote ? ` (${row.metricNote})` : ''} | ${format(row.candidate)} | ${format(row.reference)} | ${row.ratio.toFixed(2)} | ≤ ${row.goal.toFixed(2)} | ${row.met ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}

/** The quoted WAL-G figures as a markdown block, marked as not measured by this run. */
export function quotedFiguresBlock() {
  const lines = [
    '### Reference figures measured elsewhere (not from this run)',
    '',
    `Source: ${quotedWalgFigures.source}. They are used for the ratio checks only when no reference binary is given.`,
    '',
    '| operation | wall s | VmPeak MiB | peak RSS MiB | private writable MiB | what |',
    '|---|---|---|---|---|---|',
  ];
  for (const [operation, figures] of Object.entries(quotedWalgFigures.operations)) {
    lines.push(`| ${operation} | ${seconds(figures.wallMs)} | ${mib(figures.vmPeakKiB)} | ${mib(figures.vmHwmKiB)} | ${mib(figures.privateWritableKiB)} | ${figures.note} |`);
  }
  return lines.join('\n');
}

/**
 * An SVG of memory over time: per tool, RSS (solid) and private writable (dashed), summed over the tool's processes.
 * `timelines` is label -> [{tMs, rssKiB, privateWritableKiB}].
 */
export function memoryChart(title, timelines) {
  const series = [];
  for (const [label, timeline] of Object.entries(timelines)) {
    if (!timeline?.length) continue;
    series.push({ name: `${label} RSS`, points: thinPoints(timeline.map((p) => [p.tMs / 1000, p.rssKiB / 1024])) });
    series.push({ name: `${label} private writable`, dashed: true, points: thinPoints(timeline.map((p) => [p.tMs / 1000, p.privateWritableKiB / 1024])) });
  }
  // Solid and dashed lines of one tool share a color.
  const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  series.forEach((s, index) => (s.color = palette[(index >> 1) % palette.length]));
  return lineChartSvg({ title, xLabel: 'seconds', yLabel: 'MiB', series });
}

export function backlogChart(title, timelines) {
  const series = Object.entries(timelines)
    .filter(([, timeline]) => timeline?.length)
    .map(([label, timeline]) => ({ name: label, points: thinPoints(timeline.map((p) => [p.tMs / 1000, p.ready])) }));
  return lineChartSvg({ title, xLabel: 'seconds since the load started', yLabel: '.ready files', series });
}
