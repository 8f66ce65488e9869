/**
 * The outputs of a run: the table (terminal and report.md), report.md with the machine and the
 * method, chart.svg, results.csv, results.json (--json).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderChart } from './chart';
import { formatRatio, formatValue, Summaries, toCsv } from './samples';
import type { BenchResults, Unit } from './types';

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cols: string[]) => '| ' + cols.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)];
}

function cell(s: Summaries, workload: string, impl: string, metric: string, unit: Unit, baseline: string | null, spread: boolean): string {
  const m = s.get(workload, impl, metric);
  if (!m) return '-';
  let out = formatValue(m.median, unit);
  if (spread && m.n > 1) out += ` (${formatValue(m.min, unit)}-${formatValue(m.max, unit)})`;
  if (impl !== baseline && metric === 'time') {
    const r = s.ratio(workload, impl, baseline, metric);
    if (r !== null) out += ` ${formatRatio(r)}`;
  }
  if (m.disturbed > 0) out += ` [${m.disturbed} disturbed]`;
  return out;
}

/** The results table: one row per workload, one column per implementation, medians and ratios. */
export function resultsTable(r: BenchResults, opts: { spread: boolean; titles: boolean }): string[] {
  const s = new Summaries(r.samples);
  const impls = r.impls.map((i) => i.name);
  const rows = r.workloads.map((w) => [opts.titles ? `${w.title} (\`${w.id}\`)` : w.id, ...impls.map((i) => cell(s, w.id, i, 'time', w.unit, r.baseline, opts.spread))]);
  return table(['workload', ...impls.map((i) => (i === r.baseline ? `${i} (baseline)` : i))], rows);
}

function serverTable(r: BenchResults): string[] {
  const s = new Summaries(r.samples);
  const servers = r.impls.map((i) => i.name).filter((i) => r.workloads.some((w) => s.get(w.id, i, 'server-cpu')));
  if (servers.length === 0) return ['(no user-space server measured)'];
  const rows = r.workloads.map((w) => [w.id, ...servers.map((i) => {
    const cpu = s.get(w.id, i, 'server-cpu');
    const rss = s.get(w.id, i, 'server-peak-rss');
    return cpu && rss ? `${formatValue(cpu.median, 'ms')} / ${formatValue(rss.median, 'MiB')}` : '-';
  })]);
  return table(['workload (server CPU time / peak RSS)', ...servers], rows);
}

/** A few lines for the terminal at the end of a run. */
export function terminalSummary(r: BenchResults, outDir: string | null): string {
  const lines = [
    `layerfs bench: ${r.machine.hostname}, ${r.machine.cpus} CPUs, Linux ${r.machine.kernel}; ${r.options.rounds} round(s), scale ${r.options.scale}; ${r.durationSec} s` +
      (r.pageCacheDrops ? `; page-cache drops by the machine meanwhile: ${r.pageCacheDrops}` : ''),
    '',
    ...resultsTable(r, { spread: false, titles: false }),
  ];
  if (r.skipped.length > 0) lines.push('', 'not measured here:', ...r.skipped.map((l) => `  ${l}`));
  if (outDir !== null) lines.push('', `results: ${outDir}/ (results.csv, report.md, chart.svg)`);
  return lines.join('\n') + '\n';
}

export function renderReport(r: BenchResults): string {
  const m = r.machine;
  const out = [
    '# layerfs bench',
    '',
    `${m.date.slice(0, 16).replace('T', ' ')} UTC on ${m.hostname}: ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}, ` +
      `Node ${m.node}, layerfs ${m.layerfs}${m.root ? '' : ', not root'}. Layers, uppers and mounts on ${m.scratchFs}.`,
    '',
    `Command: \`${r.command}\` (${r.options.rounds} round(s), sizes scaled by ${r.options.scale}${r.options.quick ? ', --quick' : ''}` +
      `${r.options.workloads ? `, workloads /${r.options.workloads}/` : ''}); ${r.durationSec} s; page-cache drops by anyone during the run: ${r.pageCacheDrops ?? 'unknown'}.`,
    '',
    `Medians over rounds (min-max), then the ratio to **${r.baseline ?? 'nothing'}** (> 1x: slower). Every sample on a fresh upper and a fresh mount, ` +
      'the implementations interleaved round by round with their order rotated; ' +
      (r.options.dropCaches ? 'cold samples on a new mount after dropping the machine\'s caches (--drop-caches); '
        : 'cold samples drop the lower file\'s pages (posix_fadvise, never the machine\'s caches) on a new mount over a pre-warmed lower filesystem; ') +
      'cached samples keep the lower data locked in memory; a sample during which ' +
      'the machine dropped its page cache is marked disturbed in results.csv, taken again, and left out of the medians.',
    '',
    '## Implementations',
    '',
    ...r.impls.map((i) => `- \`${i.name}\`: ${i.description}`),
    '',
    '## Time',
    '',
    ...resultsTable(r, { spread: true, titles: true }),
    '',
    '![each workload\'s time relative to the baseline](chart.svg)',
    '',
    '## Servers: CPU time during the measured part, peak RSS',
    '',
    ...serverTable(r),
    '',
  ];
  if (r.skipped.length > 0) out.push('## Not measured here', '', ...r.skipped.map((l) => `- ${l}`), '');
  return out.join('\n');
}

/** Writes results.csv, report.md, chart.svg and results.json into `dir`. */
export function writeOutputs(r: BenchResults, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.csv'), toCsv(r.samples));
  fs.writeFileSync(path.join(dir, 'report.md'), renderReport(r));
  fs.writeFileSync(path.join(dir, 'chart.svg'), renderChart({
    title: `layerfs bench, ${r.machine.date.slice(0, 10)}, ${r.machine.hostname}`,
    workloads: r.workloads,
    impls: r.impls.map((i) => i.name),
    baseline: r.baseline,
    summaries: new Summaries(r.samples),
  }));
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(r, null, 2) + '\n');
}
