import type { Measure } from './measure';

export interface WorkloadOptions {
  quick: boolean;
  /** Compare with kernel overlayfs (needs root and the overlay module). */
  kernel: boolean;
  log(msg: string): void;
}

/** One line of the report: the same operation on layerfs and (when there is one) on kernel overlayfs. */
export interface Row {
  workload: string;
  /** Which workload module produced it ('lookup', 'readdir'). */
  group: string;
  layerfs: Measure;
  kernel: Measure | null;
  /** layerfs median / kernel median (> 1: layerfs slower). */
  ratio: number | null;
  note?: string;
  /** Mount benchmarks: the same operation on fuse-overlayfs (undefined: not part of the comparison). */
  fuse?: Measure | null;
  /** fuse-overlayfs median / kernel median. */
  fuseRatio?: number | null;
  /** 'bytes': the Measure fields hold bytes, not µs (server RSS). Default 'us'. */
  unit?: 'us' | 'bytes';
  /** Bytes moved per operation: the table adds a throughput. */
  bytesPerOp?: number;
  /** The table adds operations per second (IOPS). */
  showOps?: boolean;
}

/** A derived figure, e.g. warm lookup at 500 layers over warm lookup at 1 layer. */
export interface Ratio {
  name: string;
  value: number;
  /** Upper bound the project aims for, when there is one. */
  goal?: number;
  ok?: boolean;
}

export interface WorkloadResult {
  rows: Row[];
  ratios: Ratio[];
  /** Engine counters and anything else worth keeping in the JSON. */
  details?: Record<string, unknown>;
}

export function makeRow(group: string, workload: string, layerfs: Measure, kernel: Measure | null, note?: string): Row {
  return { group, workload, layerfs, kernel, ratio: kernel ? layerfs.median_us / kernel.median_us : null, ...(note ? { note } : {}) };
}

/** A row of the mount benchmarks: layerfs, kernel overlayfs and fuse-overlayfs (null: not measured). */
export function makeRow3(
  group: string,
  workload: string,
  m: { layerfs: Measure | null; kernel: Measure | null; fuse: Measure | null },
  extra: Pick<Row, 'note' | 'unit' | 'bytesPerOp' | 'showOps'> = {},
): Row {
  const r = (a: Measure | null, b: Measure | null) => (a && b ? a.median_us / b.median_us : null);
  const empty: Measure = { median_us: NaN, min_us: NaN, max_us: NaN, samples: 0, ops_per_sec: NaN, method: 'per-call' };
  return {
    group,
    workload,
    layerfs: m.layerfs ?? empty,
    kernel: m.kernel,
    fuse: m.fuse,
    ratio: r(m.layerfs, m.kernel),
    fuseRatio: r(m.fuse, m.kernel),
    ...extra,
  };
}
