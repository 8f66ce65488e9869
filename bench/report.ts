import type { Measure } from './measure';
import type { Ratio, Row } from './types';

export function formatTime(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us < 1) return `${(us * 1000).toFixed(0)} ns`;
  if (us < 1000) return `${us.toFixed(us < 10 ? 2 : us < 100 ? 1 : 0)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function formatOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`;
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}k`;
  return ops.toFixed(ops < 10 ? 2 : 0);
}

function formatValue(v: number, unit: Row['unit']): string {
  if (unit === undefined) return formatTime(v);
  if (!Number.isFinite(v)) return '-';
  return unit === 'MiB' ? `${v.toFixed(1)} MiB` : `${v.toFixed(0)} B`;
}

const cell = (m: Measure | null, unit?: Row['unit'], peer?: string) =>
  (m ? formatValue(m.median_us, unit) + (peer ? ` (${peer})` : '') : '-');

/**
 * The results as a markdown table (medians per operation, or of the row's unit), then the derived
 * ratios. A row measured against another peer than the kernel names it in the kernel column.
 */
export function renderMarkdown(rows: Row[], ratios: Ratio[]): string {
  const header = ['workload', 'layerfs', 'kernel', 'layerfs/kernel', 'layerfs ops/s', 'samples (layerfs/kernel)'];
  const body = rows.map((r) => [
    r.workload,
    cell(r.layerfs, r.unit),
    cell(r.kernel, r.unit, r.peer),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.unit === undefined ? formatOps(r.layerfs.ops_per_sec) : '-',
    `${r.layerfs.samples}/${r.kernel ? r.kernel.samples : '-'}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  const out = [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)];
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.workload.replace(/, \d+ layer\(s\)$/, '')}: ${r.note}`);
  if (ratios.length > 0) {
    out.push('', '| ratio | value | goal |', '|---|---|---|');
    for (const r of ratios) {
      const goal = r.goal === undefined ? '-' : `<= ${r.goal}x ${r.ok ? '(met)' : '(NOT met)'}`;
      out.push(`| ${r.name} | ${r.value.toFixed(2)}x | ${goal} |`);
    }
  }
  if (notes.length > 0) out.push('', 'Medians per operation. Notes:', ...[...new Set(notes)]);
  return out.join('\n');
}
