/**
 * The vocabulary of `layerfs bench` (lib/bench): implementations, layer sets, workloads, samples and
 * the options of a run. Every figure is a sample: one value of one metric of one workload on one
 * implementation in one round, with the page-cache drops the machine made while it was taken.
 */

/** How an implementation is mounted. */
export type ImplKind = 'layerfs' | 'kernel' | 'command';

export interface ImplSpec {
  /** Column name in every output ('layerfs', 'kernel-metacopy', 'fuse-overlayfs', a --impl NAME). */
  name: string;
  kind: ImplKind;
  /** One line for the report: what this column is. */
  description: string;
  /** layerfs: extra -o options (opens=kernel, transport=...); kernel: extra overlay options. */
  options: string[];
  /** command: the program and its arguments before `-o lowerdir=... MNT`. */
  argv?: string[];
}

/** A set of lower layers, top first. */
export interface LayerSet {
  name: string;
  /** Top first, as lowerdir= lists them. */
  lower: string[];
  /** Paths (relative to the merged root) the workloads use, and counts they check. */
  info: Record<string, unknown>;
}

export type Unit = 'ms' | 'us' | 'MiB';

/** One sample. */
export interface Sample {
  workload: string;
  /** 'time' (what the workload measures), 'server-cpu' (ms of CPU), 'server-peak-rss' (MiB). */
  metric: string;
  impl: string;
  round: number;
  value: number;
  unit: Unit;
  /** Page-cache drops (anyone's) counted while the sample was taken; > 0: disturbed. */
  drops: number;
  disturbed: boolean;
}

/** What a workload's measure step gets. */
export interface MountContext {
  impl: ImplSpec;
  mountpoint: string;
  upper: string;
  layers: LayerSet;
  /** Where untimed temporary files of the bench go (same filesystem as the uppers). */
  scratch: string;
  sizes: Sizes;
  tools: Tools;
}

export interface Tools {
  fio: boolean;
  podman: boolean;
  python3: boolean;
}

/** Sizes of the generated data, already scaled. */
export interface Sizes {
  scale: number;
  bigFile: number;
  treeEntries: number;
  dirEntries: number;
  deepLayers: number;
  deepFiles: number;
  creates: number;
  tarBytes: number;
  seqWrite: number;
  randReads: number;
  /** fio run time per random-read sample. */
  fioMs: number;
}

/** What a workload's measure step returns: the value, and what every implementation must agree on. */
export type MeasureResult = number | { value: number; witness?: unknown };

export interface Workload {
  id: string;
  /** One line for the report and the chart, with the sizes of this run. */
  title: string | ((s: Sizes) => string);
  /** The layer set it mounts: 'tree' (a /usr-like tree and a change layer, or the user's layers), 'data', 'deep'. */
  layers: 'tree' | 'data' | 'deep' | 'none';
  unit: Unit;
  /** Whether a page-cache drop during the sample spoils it (warm, cached figures): then it is re-measured. */
  dropSensitive: boolean;
  /** Cold: the lower files' pages are dropped before the sample (the mount is always fresh). */
  cold?: boolean;
  /** Why it cannot run here (a tool missing), or null. */
  unavailable?(tools: Tools, impls: ImplSpec[]): string | null;
  /** Which implementations it applies to (default: all). */
  appliesTo?(impl: ImplSpec): boolean;
  /** Untimed work on the fresh mount before the timed part. */
  prepare?(ctx: MountContext): Promise<unknown> | unknown;
  /** The timed part: returns the value in `unit` (a time, or a time per operation). */
  measure(ctx: MountContext, prepared: unknown): Promise<MeasureResult> | MeasureResult;
  /** Untimed check after the sample (the right number of entries, bytes...), throws when wrong. */
  check?(ctx: MountContext, prepared: unknown): void;
}

export interface BenchOptions {
  /** Output directory; null: write nothing. */
  out: string | null;
  rounds: number;
  quick: boolean;
  /** Multiplies every generated size (0 < scale <= 1 usually; tests use 0.01); default 1, --quick 1/16. */
  scale?: number;
  /** Workload ids matching this regex run. */
  workloads?: RegExp;
  /** Extra fuse-overlayfs-compatible commands, `NAME=PROG ARGS`. */
  extraImpls: string[];
  /** Implementations whose names match run (default: all that can). */
  implFilter?: RegExp;
  /** Lower directories the user names (top first): they replace the generated tree. */
  layers?: string[];
  /** An image from the store: its layers replace the generated tree. */
  image?: string;
  /** Where layer sets and mounts go (default: the OS temp dir). */
  scratch?: string;
  /** A terminal: live progress bar; else one line per step through `log`. */
  progress: 'bar' | 'lines' | 'none';
  log(line: string): void;
  /** The command line, for the report. */
  command?: string;
  /**
   * Cold samples drop the machine's caches (sync; echo 3 > /proc/sys/vm/drop_caches, root only)
   * after mounting, so the lower filesystem is read from disk too. Off by default: on a shared
   * machine it slows everyone; cold then means a new mount over a warm lower filesystem.
   */
  dropCaches?: boolean;
  /** How many times a disturbed sample is taken again (default 2). */
  retries?: number;
}

export interface MachineInfo {
  date: string;
  hostname: string;
  cpuModel: string;
  cpus: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  layerfs: string;
  scratchFs: string;
  root: boolean;
}

export interface BenchResults {
  machine: MachineInfo;
  command: string;
  options: { rounds: number; quick: boolean; scale: number; workloads: string | null; dropCaches: boolean };
  impls: ImplSpec[];
  /** The implementation the ratios are taken against ('kernel' when it could run). */
  baseline: string | null;
  workloads: { id: string; title: string; unit: Unit }[];
  /** What could not run here, one line each. */
  skipped: string[];
  samples: Sample[];
  /** What every implementation agreed on, per workload (entries walked, bytes in the upper...). */
  witnesses: Record<string, unknown>;
  durationSec: number;
  pageCacheDrops: number | null;
}
