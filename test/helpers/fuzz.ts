/**
 * The shared machinery of the write-side differential fuzzers (test/engine/fuzz.test.ts: kernel
 * overlayfs vs the engine; test/mount/fuzz.test.ts: kernel overlayfs vs a layerfs FUSE mount): the
 * op-by-op comparison loop, the time normalization, shrinking a failing sequence, seed selection
 * from the environment and the failure report.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { Overlay } from '../../lib/engine';
import { describeOp, kernelState, Op, OP_NAMES, OpGenerator, Outcome, PathState, skipReason, timeClass, touchedPaths, walkState, applyKernel } from './ops';
import { LayerSpec } from './layers';
import { randomLayers, rng } from './random-layers';
import { NATIVE, transportTime } from './transport';
import { diffSnapshots, snapshotEngine, TreeSnapshot } from './tree';

/** The kernel's options for every fuzz mount: what the engine and layerfs implement. */
export const MOUNT_OPTS = ['redirect_dir=on', 'metacopy=on'];

/** The layers a seed starts from. */
export function specsFor(seed: number): LayerSpec[] {
  return randomLayers(seed, { layers: 3 + (seed % 2), opsPerLayer: 10, maxDepth: 3, namePool: OP_NAMES, xattrs: true });
}

export interface Failure {
  /** Index of the first diverging op, or one of the whole-tree checks at the end. */
  at: number | string;
  message: string;
}

export interface RunResult {
  ops: Op[];
  failure: Failure | null;
  skipped: number;
}

/**
 * Paths whose mtime the kernel sets where the engine, rightly, does not; not compared (until an
 * explicit utimes sets them again). Paths are merged paths and follow renames.
 * - Directories after a failed rename: ext4 makes the RENAME_WHITEOUT whiteout before it finds the
 *   target directory not empty, and touches the source directory. The engine checks emptiness first
 *   and never makes the failing call.
 * - Files whose metacopy the kernel completed on an open for write: its data copy-up of a metacopy
 *   file leaves the file's mtime at "now" (ovl_copy_up_meta_inode_data does not restore it), while a
 *   plain copy-up for the same open keeps it. The kernel disagrees with itself; the engine keeps the
 *   time in both cases.
 */
export class LooseMtimes {
  private readonly paths = new Set<string>();

  constructor(private readonly kernelUpper: string) {}

  /** Before `op` runs on the kernel (not skipped). */
  beforeOp(op: Op): void {
    if (op.k !== 'openCreat' && op.k !== 'write' && op.k !== 'append' && op.k !== 'fallocate' && op.k !== 'punchHole' && op.k !== 'fsync' && op.k !== 'ftruncate') return;
    try {
      if (sys.getxattrat(sys.AT.FDCWD, path.join(this.kernelUpper, op.p), 'trusted.overlay.metacopy') !== null) this.paths.add(op.p);
    } catch {
      /* not in the upper layer */
    }
  }

  afterOp(op: Op, kernel: Outcome): void {
    if (!('ok' in kernel)) return;
    const parent = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
    if ((op.k === 'utimes' || op.k === 'utimesNow') && kernel.ok) this.paths.delete(op.p);
    if (op.k === 'link' && kernel.ok && this.paths.has(op.from)) this.paths.add(op.to);
    if (op.k !== 'rename') return;
    if (!kernel.ok) {
      this.paths.add(parent(op.from));
      this.paths.add(parent(op.to));
      return;
    }
    const move = (from: string, to: string, set: Set<string>, out: Set<string>) => {
      for (const p of set) if (p === from || p.startsWith(from + '/')) out.add(to + p.slice(from.length));
    };
    const before = new Set(this.paths);
    const moved = new Set<string>();
    move(op.from, op.to, before, moved);
    if (op.flags === 2) move(op.to, op.from, before, moved);
    for (const p of before) {
      const under = (x: string) => p === x || p.startsWith(x + '/');
      if (under(op.from) || under(op.to)) this.paths.delete(p);
    }
    for (const p of moved) this.paths.add(p);
  }

  apply<T>(rel: string, state: T): T {
    if (typeof state !== 'object' || state === null) return state;
    if (this.paths.has(rel)) return { ...state, mtime: 'not compared' };
    const t = (state as { mtime?: unknown }).mtime;
    // fuse-native carries whole milliseconds: exact times are compared to the ms there
    if (NATIVE && typeof t === 'string') return { ...state, mtime: transportTime(t) };
    return state;
  }
}

/** Times are compared by class: set by the fs itself ('recent') or exactly. */
export function normalize(snap: TreeSnapshot, loose: LooseMtimes): TreeSnapshot {
  const out: TreeSnapshot = {};
  for (const [k, rec] of Object.entries(snap)) {
    const r = loose.apply(k.slice(1), { ...rec, mtime: timeClass(BigInt(rec.mtime)) });
    // Directory link counts: 1 for merged dirs, real counts otherwise (kernel and engine agree on the
    // rule, but the count of an upper dir depends on what copy-up left there); not compared.
    if (r.type === 'dir') delete (r as Partial<typeof r>).nlink;
    out[k] = r;
  }
  return out;
}

export const show = (x: unknown) => JSON.stringify(x);

/** With LAYERFS_FUZZ_STATS=1: how often each scenario succeeded, failed (by errno) or was skipped. */
const stats = new Map<string, Map<string, number>>();
function tally(op: Op, k: Outcome): void {
  if (!process.env.LAYERFS_FUZZ_STATS) return;
  const what = 'skip' in k ? 'skip' : k.ok ? 'ok' : k.code;
  const m = stats.get(op.why) ?? new Map<string, number>();
  m.set(what, (m.get(what) ?? 0) + 1);
  stats.set(op.why, m);
}
process.on('exit', () => {
  for (const [why, m] of [...stats].sort()) console.log(`${why.padEnd(22)} ${[...m].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${w}:${n}`).join(' ')}`);
});

/** What the fuzzers compare against the kernel: the engine itself, or a mount of it. */
export interface Subject {
  apply(op: Op, skip: string | null): Promise<Outcome>;
  state(rel: string): PathState;
  /** Scenario kinds the generator must not choose (what the subject cannot express). */
  exclude?: ReadonlySet<string>;
}

/**
 * Runs one sequence against the kernel mount at `root` and `subject`: `source` is either a count of
 * ops to generate from `seed` (the generator reads the kernel's tree), or a fixed op list (a replay
 * while shrinking). Stops at the first op whose outcome, or whose touched paths' states, differ.
 */
export async function compareRuns(seed: number, source: number | Op[], root: string, subject: Subject, loose: LooseMtimes): Promise<RunResult> {
  const ops: Op[] = [];
  let skipped = 0;
  const gen = typeof source === 'number' ? new OpGenerator(rng(seed * 7919 + 1), subject.exclude) : null;
  const pending: Op[] = typeof source === 'number' ? [] : [...source];
  const total = typeof source === 'number' ? source : source.length;
  while (ops.length < total) {
    if (pending.length === 0) pending.push(...gen!.next(walkState(root)));
    const op = pending.shift()!;
    const i = ops.length;
    ops.push(op);
    if (skipReason(root, op) === null) loose.beforeOp(op);
    const k: Outcome = applyKernel(root, op);
    const skip = 'skip' in k ? k.skip : null;
    if (skip !== null) skipped++;
    const e: Outcome = await subject.apply(op, skip);
    tally(op, k);
    // A stat's answer is a path state: the same loose mtimes apply as to the state checks below.
    const looseStat = (o: Outcome): Outcome => (op.k === 'stat' && 'ok' in o && o.ok ? { ok: true, data: loose.apply(op.p, o.data) } : o);
    if (show(looseStat(k)) !== show(looseStat(e))) {
      return { ops, skipped, failure: { at: i, message: `op #${i} ${describeOp(op)}\n  kernel: ${show(k)}\n  other:  ${show(e)}` } };
    }
    loose.afterOp(op, k);
    for (const p of touchedPaths(op)) {
      const ks = loose.apply(p, kernelState(root, p));
      const es = loose.apply(p, subject.state(p));
      if (show(ks) !== show(es)) {
        return { ops, skipped, failure: { at: i, message: `after op #${i} ${describeOp(op)}\n  /${p} kernel: ${show(ks)}\n  /${p} other:  ${show(es)}` } };
      }
    }
  }
  return { ops, skipped, failure: null };
}

/**
 * The reverse on-disk check: the engine opened over an upper layer the kernel wrote must show
 * `expected`, the kernel's last view of that tree, both as the upper (with a fresh work dir `work`,
 * as a remount would) and as the top lower layer of a read-only stack (its metacopies then lower
 * ones, as the kernel reads them with metacopy=on). Returns the differences (empty when equal).
 * Nothing is written to the layers but the work dir.
 */
export function engineOverUpper(lower: string[], upper: string, work: string, expected: TreeSnapshot, loose: LooseMtimes): string[] {
  fs.mkdirSync(work);
  const views: [string, () => Overlay][] = [
    ['as upper', () => Overlay.open({ lower, upper, work, metacopy: true })],
    ['as top lower, read-only', () => Overlay.open({ lower: [upper, ...lower], metacopy: true })],
  ];
  for (const [how, open] of views) {
    const ov = open();
    try {
      const diffs = diffSnapshots(expected, normalize(snapshotEngine(ov), loose));
      if (diffs.length > 0) return [`(the kernel's upper ${how})`, ...diffs];
    } finally {
      ov.close();
    }
  }
  return [];
}

/** Removes ops one at a time (last first) while the sequence still fails; bounded in time. */
export async function shrink(run: (ops: Op[]) => Promise<RunResult>, ops: Op[], failure: Failure, budgetMs: number): Promise<{ ops: Op[]; failure: Failure }> {
  const deadline = Date.now() + budgetMs;
  let best = typeof failure.at === 'number' ? ops.slice(0, failure.at + 1) : ops;
  let bestFailure = failure;
  for (let i = best.length - 1; i >= 0 && Date.now() < deadline; i--) {
    const candidate = best.filter((_, j) => j !== i);
    const r = await run(candidate);
    if (r.failure !== null) {
      best = typeof r.failure.at === 'number' ? candidate.slice(0, r.failure.at + 1) : candidate;
      bestFailure = r.failure;
      i = Math.min(i, best.length);
    }
  }
  return { ops: best, failure: bestFailure };
}

export function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    else out.push(Number(part));
  }
  return out;
}

export interface FuzzSuite {
  /** Test folder and file pattern, for the rerun hints: e.g. 'engine' and 'fuzz'. */
  folder: string;
  /** Test title prefix. */
  title: string;
  /** Seeds 1..ciSeeds run when LAYERFS_FUZZ_SEEDS is not set... */
  ciSeeds: number;
  /**
   * ...but these, each for a divergence not fixed yet (the reason beside it); named in
   * LAYERFS_FUZZ_SEEDS, they run.
   */
  knownDivergent?: Record<number, string>;
  /** Ops per seed when LAYERFS_FUZZ_OPS is not set. */
  ops: number;
  run(seed: number, source: number | Op[]): Promise<RunResult>;
}

/**
 * Registers the suite's tests (not `test.run()`): one per seed, or the replay of a saved op list
 * (LAYERFS_FUZZ_REPLAY). A failure is shrunk (LAYERFS_FUZZ_SHRINK_MS, default 60000, 0 = off),
 * saved for replay, and reported with both the first divergence and the minimal one.
 */
export function registerFuzz(suite: FuzzSuite): void {
  const known = suite.knownDivergent ?? {};
  const seeds = process.env.LAYERFS_FUZZ_SEEDS
    ? parseSeeds(process.env.LAYERFS_FUZZ_SEEDS)
    : Array.from({ length: suite.ciSeeds }, (_, i) => i + 1).filter((s) => !(s in known));
  const opCount = Number(process.env.LAYERFS_FUZZ_OPS ?? suite.ops);
  const shrinkMs = Number(process.env.LAYERFS_FUZZ_SHRINK_MS ?? 60000);
  const check = async (seed: number, source: number | Op[]): Promise<void> => {
    const r = await suite.run(seed, source);
    if (r.failure === null) return;
    const small = shrinkMs > 0 ? await shrink((ops) => suite.run(seed, ops), r.ops, r.failure, shrinkMs) : { ops: r.ops, failure: r.failure };
    const file = path.join(os.tmpdir(), `layerfs-fuzz-${suite.folder}-${seed}.json`);
    fs.writeFileSync(file, JSON.stringify({ seed, ops: small.ops }, null, 1));
    const where = (f: Failure) => (typeof f.at === 'number' ? `op #${f.at}` : f.at);
    assert.unreachable(
      [
        `seed ${seed}: first divergence at ${where(r.failure)} of ${r.ops.length}`,
        r.failure.message,
        '',
        `minimal reproduction (${small.ops.length} ops, diverging at ${where(small.failure)}):`,
        ...small.ops.map((op, i) => `  #${i} ${describeOp(op)}`),
        small.failure.message,
        '',
        `rerun: LAYERFS_FUZZ_SEEDS=${seed} LAYERFS_FUZZ_OPS=${r.ops.length} node scripts/run-tests.js ${suite.folder} fuzz`,
        `replay the minimal list: LAYERFS_FUZZ_REPLAY=${file} node scripts/run-tests.js ${suite.folder} fuzz`,
      ].join('\n'),
    );
  };
  if (process.env.LAYERFS_FUZZ_REPLAY) {
    const saved = JSON.parse(fs.readFileSync(process.env.LAYERFS_FUZZ_REPLAY, 'utf8')) as { seed: number; ops: Op[] };
    test(`${suite.title}: replay of ${process.env.LAYERFS_FUZZ_REPLAY} (seed ${saved.seed}, ${saved.ops.length} ops)`, () => check(saved.seed, saved.ops));
  } else {
    for (const seed of seeds) test(`${suite.title}, seed ${seed}, ${opCount} ops`, () => check(seed, opCount));
  }
}
