/**
 * chart.svg: each workload's time relative to the baseline (the kernel), one bar per
 * implementation, on a log scale centred on 1x: bars to the left are faster than the baseline, to
 * the right slower. Each bar carries its ratio as text, so the chart reads without the table.
 * Hand-written SVG (no chart library).
 */
import { formatRatio, Summaries } from './samples';

export interface ChartInput {
  title: string;
  workloads: { id: string; title: string }[];
  impls: string[];
  baseline: string | null;
  summaries: Summaries;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Tick values 1-2-5 per decade between lo and hi (both included as whole decades). */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(+v.toPrecision(3));
    }
  }
  return out;
}

export function renderChart(c: ChartInput): string {
  const others = c.impls.filter((i) => i !== c.baseline);
  const ratios = c.workloads.map((w) => others.map((i) => c.summaries.ratio(w.id, i, c.baseline)));
  const all = ratios.flat().filter((r): r is number => r !== null && r > 0);
  // The axis: at least 0.5x..2x, out to the next 1-2-5 value past every bar.
  const axisLo = niceDown(Math.min(0.5, ...all));
  const niceHi = niceUp(Math.max(2, ...all));
  const tickVals = ticks(axisLo, niceHi);

  const W = 980, labelW = 400, plotL = labelW + 50, plotR = W - 50, top = 70;
  const barH = 13, gap = 3, groupPad = 12;
  const groupH = Math.max(1, others.length) * (barH + gap) + groupPad;
  const legendRows = Math.ceil(others.length / 4);
  const plotTop = top + legendRows * 18 + 10;
  const H = plotTop + c.workloads.length * groupH + 40;
  const x = (r: number) => plotL + ((Math.log(r) - Math.log(axisLo)) / (Math.log(niceHi) - Math.log(axisLo))) * (plotR - plotL);
  const x1 = x(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(c.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(c.title)}</text>`);
  out.push(`<text x="${W / 2}" y="44" text-anchor="middle" fill="#555">${escapeXml(c.baseline === null ? 'no baseline' : `time / time of ${c.baseline} (median), log scale: left of 1x faster, right slower`)}</text>`);
  others.forEach((impl, i) => {
    const lx = 20 + (i % 4) * 240, ly = top + Math.floor(i / 4) * 18;
    out.push(`<g class="legend"><rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${lx + 18}" y="${ly}">${escapeXml(impl)}</text></g>`);
  });
  // grid and axis
  const plotBottom = plotTop + c.workloads.length * groupH;
  out.push('<g class="axis" stroke="#ddd">');
  for (const t of tickVals) out.push(`<line x1="${x(t).toFixed(1)}" y1="${plotTop}" x2="${x(t).toFixed(1)}" y2="${plotBottom}"/>`);
  out.push('</g>');
  out.push(`<line x1="${x1.toFixed(1)}" y1="${plotTop - 4}" x2="${x1.toFixed(1)}" y2="${plotBottom}" stroke="#000" stroke-width="1.5"/>`);
  out.push('<g class="ticks" text-anchor="middle" fill="#333">');
  // Every 1-2-5 value gets a grid line; labels only where they do not crowd (decades first).
  let lastLabel = -Infinity;
  const crowded = (plotR - plotL) / tickVals.length < 44;
  for (const t of tickVals) {
    const isDecade = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-6;
    if (crowded && !isDecade) continue;
    if (x(t) - lastLabel < 36) continue;
    lastLabel = x(t);
    out.push(`<text x="${x(t).toFixed(1)}" y="${plotBottom + 16}">${t}x</text>`);
  }
  out.push('</g>');
  c.workloads.forEach((w, k) => {
    const gy = plotTop + k * groupH;
    out.push(`<g class="workload" data-workload="${escapeXml(w.id)}">`);
    if (k % 2 === 1) out.push(`<rect x="0" y="${gy}" width="${W}" height="${groupH}" fill="#f6f6f6" fill-opacity="0.6"/>`);
    out.push(`<text x="${labelW}" y="${gy + groupH / 2 + 4}" text-anchor="end">${escapeXml(shorten(w.title, 62))}</text>`);
    others.forEach((impl, i) => {
      const r = ratios[k][i];
      const by = gy + groupPad / 2 + i * (barH + gap);
      const color = PALETTE[i % PALETTE.length];
      if (r === null || !(r > 0)) {
        out.push(`<text class="bar-missing" x="${x1 + 4}" y="${by + barH - 3}" fill="#999" font-size="10">${escapeXml(impl)}: not measured</text>`);
        return;
      }
      const xr = x(Math.min(Math.max(r, axisLo), niceHi));
      const bx = Math.min(x1, xr), bw = Math.max(1, Math.abs(xr - x1));
      out.push(`<rect class="bar" data-impl="${escapeXml(impl)}" x="${bx.toFixed(1)}" y="${by}" width="${bw.toFixed(1)}" height="${barH}" fill="${color}"><title>${escapeXml(`${w.title}: ${impl} ${formatRatio(r)}`)}</title></rect>`);
      const tx = r >= 1 ? xr + 4 : xr - 4;
      out.push(`<text x="${tx.toFixed(1)}" y="${by + barH - 3}" font-size="10" text-anchor="${r >= 1 ? 'start' : 'end'}">${formatRatio(r)}</text>`);
    });
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The smallest 1-2-5 value >= v. */
function niceUp(v: number): number {
  const e = Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * 10 ** e >= v * 0.9999) return +(m * 10 ** e).toPrecision(3);
  return 10 ** (e + 1);
}

/** The largest 1-2-5 value <= v. */
function niceDown(v: number): number {
  const e = Math.floor(Math.log10(v));
  for (const m of [5, 2, 1]) if (m * 10 ** e <= v * 1.0001) return +(m * 10 ** e).toPrecision(3);
  return 10 ** e;
}

function shorten(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}
