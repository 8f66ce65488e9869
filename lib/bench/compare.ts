/**
 * `layerfs bench --compare OLD.csv NEW.csv`: what changed between two runs, per workload and
 * implementation: the medians, new/old, and each run's ratio to its baseline (the ratio is what
 * survives a change of machine or load). A change whose new median lies inside the old run's
 * min-max is marked as within the spread.
 */
import * as fs from 'node:fs';
import { defaultBaseline, formatRatio, formatValue, parseCsv, Summaries } from './samples';

export interface CompareRow {
  workload: string;
  impl: string;
  old: number | null;
  new: number | null;
  change: number | null;
  oldRatio: number | null;
  newRatio: number | null;
  withinSpread: boolean;
}

export function compareSamples(oldText: string, newText: string, names = ['OLD', 'NEW']): { rows: CompareRow[]; baselines: [string | null, string | null]; units: Map<string, string> } {
  const a = new Summaries(parseCsv(oldText, names[0]));
  const b = new Summaries(parseCsv(newText, names[1]));
  const baseA = defaultBaseline(a.impls), baseB = defaultBaseline(b.impls);
  const workloads = [...a.workloads, ...b.workloads.filter((w) => !a.workloads.includes(w))];
  const impls = [...a.impls, ...b.impls.filter((i) => !a.impls.includes(i))];
  const rows: CompareRow[] = [];
  const units = new Map<string, string>();
  for (const w of workloads) {
    for (const i of impls) {
      const o = a.get(w, i), n = b.get(w, i);
      if (!o && !n) continue;
      units.set(w, (o ?? n)!.unit);
      rows.push({
        workload: w,
        impl: i,
        old: o?.median ?? null,
        new: n?.median ?? null,
        change: o && n && o.median > 0 ? n.median / o.median : null,
        oldRatio: a.ratio(w, i, baseA),
        newRatio: b.ratio(w, i, baseB),
        withinSpread: !!(o && n && n.median >= o.min && n.median <= o.max),
      });
    }
  }
  return { rows, baselines: [baseA, baseB], units };
}

/** The comparison as a markdown table. */
export function renderCompare(oldFile: string, newFile: string): string {
  const cmp = compareSamples(fs.readFileSync(oldFile, 'utf8'), fs.readFileSync(newFile, 'utf8'), [oldFile, newFile]);
  const fmt = (v: number | null, w: string) => (v === null ? '-' : formatValue(v, cmp.units.get(w) as 'ms'));
  const header = ['workload', 'implementation', 'old', 'new', 'new/old', `old / ${cmp.baselines[0] ?? '-'}`, `new / ${cmp.baselines[1] ?? '-'}`];
  const body = cmp.rows.map((r) => [
    r.workload, r.impl, fmt(r.old, r.workload), fmt(r.new, r.workload),
    r.change === null ? '-' : `${formatRatio(r.change)}${r.withinSpread ? ' (within old spread)' : ''}`,
    formatRatio(r.oldRatio), formatRatio(r.newRatio),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [`old: ${oldFile}`, `new: ${newFile}`, '', line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n') + '\n';
}
