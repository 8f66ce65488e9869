/**
 * Samples on disk (results.csv: one row per sample) and their summaries: the median with min and max
 * over the undisturbed samples of each workload, metric and implementation, and ratios to a baseline.
 */
import type { Sample, Unit } from './types';

export const CSV_HEADER = ['workload', 'metric', 'implementation', 'round', 'value', 'unit', 'disturbed', 'drops'];

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(samples: Sample[]): string {
  const rows = samples.map((s) => [s.workload, s.metric, s.impl, String(s.round + 1), String(+s.value.toPrecision(7)), s.unit, s.disturbed ? '1' : '0', String(s.drops)]);
  return [CSV_HEADER, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** Splits CSV text into rows of fields (quotes and doubled quotes understood). */
export function parseCsvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** results.csv back into samples; throws with the line number on a malformed row. */
export function parseCsv(text: string, name = 'CSV'): Sample[] {
  const rows = parseCsvRows(text);
  const header = rows.shift();
  const col = (h: string) => header?.indexOf(h) ?? -1;
  const need = ['workload', 'implementation', 'value', 'unit'];
  if (!header || need.some((h) => col(h) < 0)) throw new Error(`${name}: not a layerfs bench results.csv (want columns ${CSV_HEADER.join(',')})`);
  return rows.map((r, i) => {
    const value = Number(r[col('value')]);
    if (!Number.isFinite(value)) throw new Error(`${name}: line ${i + 2}: value ${JSON.stringify(r[col('value')])} is not a number`);
    const at = (h: string, dflt: string) => (col(h) >= 0 ? r[col(h)] : dflt);
    return {
      workload: r[col('workload')],
      metric: at('metric', 'time'),
      impl: r[col('implementation')],
      round: Number(at('round', '1')) - 1,
      value,
      unit: r[col('unit')] as Unit,
      disturbed: at('disturbed', '0') === '1',
      drops: Number(at('drops', '0')),
    };
  });
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Samples in the summary (the undisturbed ones, or all when every one was disturbed). */
  n: number;
  disturbed: number;
  unit: Unit;
}

const key = (workload: string, metric: string, impl: string) => `${workload}\0${metric}\0${impl}`;

export class Summaries {
  private readonly map = new Map<string, Summary>();
  readonly workloads: string[] = [];
  readonly impls: string[] = [];

  constructor(samples: Sample[]) {
    const groups = new Map<string, Sample[]>();
    for (const s of samples) {
      const k = key(s.workload, s.metric, s.impl);
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(s);
      if (!this.workloads.includes(s.workload)) this.workloads.push(s.workload);
      if (!this.impls.includes(s.impl)) this.impls.push(s.impl);
    }
    for (const [k, ss] of groups) {
      const clean = ss.filter((s) => !s.disturbed);
      const xs = (clean.length > 0 ? clean : ss).map((s) => s.value);
      this.map.set(k, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length, disturbed: ss.length - clean.length, unit: ss[0].unit });
    }
  }

  get(workload: string, impl: string, metric = 'time'): Summary | undefined {
    return this.map.get(key(workload, metric, impl));
  }

  /** median(impl) / median(baseline) for `metric`; null when either is missing or zero. */
  ratio(workload: string, impl: string, baseline: string | null, metric = 'time'): number | null {
    if (baseline === null) return null;
    const a = this.get(workload, impl, metric);
    const b = this.get(workload, baseline, metric);
    return a && b && b.median > 0 ? a.median / b.median : null;
  }
}

/** A value in its unit, with 3 significant figures (ms above 1000 shown as s). */
export function formatValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return '-';
  const sig = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  if (unit === 'ms') return v >= 1000 ? `${sig(v / 1000)} s` : v < 1 ? `${sig(v * 1000)} µs` : `${sig(v)} ms`;
  if (unit === 'us') return v >= 1000 ? `${sig(v / 1000)} ms` : `${sig(v)} µs`;
  return `${sig(v)} ${unit}`;
}

export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return '-';
  return `${r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}x`;
}

/** The baseline of a set of implementation names: the kernel, else fuse-overlayfs, else the first. */
export function defaultBaseline(impls: string[]): string | null {
  for (const b of ['kernel', 'fuse-overlayfs']) if (impls.includes(b)) return b;
  return impls[0] ?? null;
}
