// A tiny dependency-free SVG line chart for the benchmark report: memory over time per tool, backlog over time.

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * Round tick values covering [min, max]: steps of 1, 2 or 5 × 10^n, about `count` of them. Always includes a tick at
 * or below min and one at or above max, so the axis spans all data.
 */
export function niceTicks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max <= min) max = min + (min === 0 ? 1 : Math.abs(min) * 0.1);
  const rough = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const first = Math.floor(min / step) * step;
  const ticks = [];
  for (let value = first; value < max + step * 0.999; value += step) ticks.push(+value.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

function formatTick(value) {
  if (Math.abs(value) >= 1000) return String(Math.round(value));
  return String(+value.toPrecision(4));
}

/**
 * Renders series of [x, y] points as an SVG line chart with axes, ticks, a title and a legend.
 * @param {object} chart
 * @param {string} chart.title
 * @param {string} chart.xLabel
 * @param {string} chart.yLabel
 * @param {{name: string, points: [number, number][], dashed?: boolean, color?: string}[]} chart.series
 * @param {number} [chart.width]
 * @param {number} [chart.height]
 * @param {boolean} [chart.yFromZero] start the y axis at 0 (default true)
 * @returns {string} the SVG document
 */
export function lineChartSvg({ title, xLabel, yLabel, series, width = 760, height = 380, yFromZero = true }) {
  const legendRows = Math.max(1, series.length);
  const margin = { left: 64, right: 16, top: 36, bottom: 46 + 16 * legendRows };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xTicks = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 8);
  const yTicks = niceTicks(yFromZero ? Math.min(0, ...ys) : ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const sx = (x) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotWidth;
  const sy = (y) => margin.top + plotHeight - ((y - y0) / (y1 - y0 || 1)) * plotHeight;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`);
  for (const tick of yTicks) {
    const y = sy(tick).toFixed(1);
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(tick)}</text>`);
  }
  for (const tick of xTicks) {
    const x = sx(tick).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${margin.top + plotHeight + 14}" text-anchor="middle">${formatTick(tick)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotWidth / 2}" y="${margin.top + plotHeight + 32}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  series.forEach((s, index) => {
    const color = s.color ?? palette[index % palette.length];
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    } else if (s.points.length > 1) {
      const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${dash}/>`);
    }
    const legendY = height - 16 * (legendRows - index) + 4;
    out.push(`<line x1="${margin.left}" x2="${margin.left + 24}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${margin.left + 30}" y="${legendY}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Thins a series to at most `limit` points, keeping the first, the last and every local extreme of each bucket. */
export function thinPoints(points, limit = 600) {
  if (points.length <= limit) return points;
  const bucket = Math.ceil(points.length / (limit / 2));
  const kept = [points[0]];
  for (let start = 1; start < points.length - 1; start += bucket) {
    const slice = points.slice(start, Math.min(start + bucket, points.length - 1));
    let low = slice[0];
    let high = slice[0];
    for (const p of slice) {
      if (p[1] < low[1]) low = p;
      if (p[1] > high[1]) high = p;
    }
    if (low === high) kept.push(low);
    else kept.push(...(low[0] < high[0] ? [low, high] : [high, low]));
  }
  kept.push(points[points.length - 1]);
  return kept;
}
