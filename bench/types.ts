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
  /** When set, the Measures hold this unit (MiB, bytes) in their *_us fields instead of microseconds. */
  unit?: 'MiB' | 'B';
  /** What the second column measured when it is not kernel overlayfs (e.g. 'fuse-overlayfs'). */
  peer?: string;
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
