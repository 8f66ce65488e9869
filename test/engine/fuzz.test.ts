import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { KernelMount, mountKernelOverlay } from '../helpers/kernel-overlay';
import { LayerSet, LayerSpec, makeLayerSet } from '../helpers/layers';
import * as sys from '../../lib/sys';
import { applyEngine, applyKernel, describeOp, skipReason, engineState, kernelState, Op, OP_NAMES, OpGenerator, Outcome, timeClass, touchedPaths, walkState } from '../helpers/ops';
import { randomLayers, rng } from '../helpers/random-layers';
import { diffSnapshots, snapshotEngine, snapshotMount, TreeSnapshot } from '../helpers/tree';

/**
 * Differential fuzzing of the write side: seeded random operation sequences run against kernel
 * overlayfs (redirect_dir=on, metacopy=on) and the engine over identical copies of the same
 * generated layers. Every op's outcome (success and what it returned, or the errno) and the state of
 * the paths it touched must agree; at the end the whole merged trees must too, and the kernel,
 * mounted over the engine's upper layer, must read it as the engine does.
 *
 * Rerun one seed:  LAYERFS_FUZZ_SEEDS=17 node scripts/run-tests.js engine fuzz
 * More seeds/ops:  LAYERFS_FUZZ_SEEDS=1-500 LAYERFS_FUZZ_OPS=100 node scripts/run-tests.js engine fuzz
 * Replay a saved (shrunk) op list: LAYERFS_FUZZ_REPLAY=/tmp/layerfs-fuzz-17.json ...
 * LAYERFS_FUZZ_SHRINK_MS bounds the shrinking of a failing sequence (default 60000, 0 = off).
 */

// The kernel applies the process umask to the modes it creates; the engine takes modes as given
// (the FUSE edge applies the request's umask), so the reference runs with none.
process.umask(0);

const MOUNT_OPTS = ['redirect_dir=on', 'metacopy=on'];

function specsFor(seed: number): LayerSpec[] {
  return randomLayers(seed, { layers: 3 + (seed % 2), opsPerLayer: 10, maxDepth: 3, namePool: OP_NAMES, xattrs: true });
}

interface Failure {
  /** Index of the first diverging op, or the final whole-tree checks. */
  at: number | 'final tree' | 'kernel over engine upper';
  message: string;
}

interface RunResult {
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
class LooseMtimes {
  private readonly paths = new Set<string>();

  constructor(private readonly kernelUpper: string) {}

  /** Before `op` runs on the kernel (not skipped). */
  beforeOp(op: Op): void {
    if (op.k !== 'openCreat' && op.k !== 'write' && op.k !== 'append') return;
    try {
      if (sys.getxattrat(sys.AT.FDCWD, path.join(this.kernelUpper, op.p), 'trusted.overlay.metacopy') !== null) this.paths.add(op.p);
    } catch {
      /* not in the upper layer */
    }
  }

  afterOp(op: Op, kernel: Outcome): void {
    if (!('ok' in kernel)) return;
    const parent = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
    if (op.k === 'utimes' && kernel.ok) this.paths.delete(op.p);
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
    if (this.paths.has(rel) && typeof state === 'object' && state !== null) return { ...state, mtime: 'not compared' };
    return state;
  }
}

/** Times are compared by class: set by the fs itself ('recent') or exactly. */
function normalize(snap: TreeSnapshot, loose: LooseMtimes): TreeSnapshot {
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

const show = (x: unknown) => JSON.stringify(x);

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

/**
 * Runs one sequence: `source` is either a count of ops to generate from `seed`, or a fixed op list
 * (a replay while shrinking). Everything mounted is unmounted and every temp dir removed.
 */
async function runSequence(seed: number, source: number | Op[]): Promise<RunResult> {
  const specs = specsFor(seed);
  const kset: LayerSet = makeLayerSet(specs);
  let eset: LayerSet | null = null;
  let kmount: KernelMount | null = null;
  let check: KernelMount | null = null;
  let ov: Overlay | null = null;
  const ops: Op[] = [];
  let skipped = 0;
  const loose = new LooseMtimes(kset.upper);
  try {
    eset = makeLayerSet(specs);
    kmount = mountKernelOverlay({ lower: kset.lower, upper: kset.upper, work: kset.work, mountpoint: path.join(kset.base, 'mnt'), extra: MOUNT_OPTS });
    ov = Overlay.open({ lower: eset.lower, upper: eset.upper, work: eset.work, metacopy: true });
    const root = kmount.mountpoint;
    const gen = typeof source === 'number' ? new OpGenerator(rng(seed * 7919 + 1)) : null;
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
      const e: Outcome = await applyEngine(ov, op, skip);
      tally(op, k);
      if (show(k) !== show(e)) {
        return { ops, skipped, failure: { at: i, message: `op #${i} ${describeOp(op)}\n  kernel: ${show(k)}\n  engine: ${show(e)}` } };
      }
      loose.afterOp(op, k);
      for (const p of touchedPaths(op)) {
        const ks = loose.apply(p, kernelState(root, p));
        const es = loose.apply(p, engineState(ov, p));
        if (show(ks) !== show(es)) {
          return { ops, skipped, failure: { at: i, message: `after op #${i} ${describeOp(op)}\n  /${p} kernel: ${show(ks)}\n  /${p} engine: ${show(es)}` } };
        }
      }
    }
    const engineView = normalize(snapshotEngine(ov), loose);
    const diffs = diffSnapshots(normalize(snapshotMount(root), loose), engineView);
    if (diffs.length > 0) return { ops, skipped, failure: { at: 'final tree', message: diffs.join('\n') } };

    // On disk: the kernel must read the engine's upper layer as the engine does.
    kmount.unmount();
    kmount = null;
    const work2 = path.join(eset.base, 'work2');
    fs.mkdirSync(work2);
    check = mountKernelOverlay({ lower: eset.lower, upper: eset.upper, work: work2, mountpoint: path.join(eset.base, 'mnt2'), extra: MOUNT_OPTS });
    const onDisk = diffSnapshots(normalize(snapshotMount(check.mountpoint), loose), engineView);
    if (onDisk.length > 0) return { ops, skipped, failure: { at: 'kernel over engine upper', message: onDisk.join('\n') } };
    return { ops, skipped, failure: null };
  } finally {
    try {
      ov?.close();
    } finally {
      kmount?.unmount();
      check?.unmount();
      kset.remove();
      eset?.remove();
    }
  }
}

/** Removes ops one at a time (last first) while the sequence still fails; bounded in time. */
async function shrink(seed: number, ops: Op[], failure: Failure, budgetMs: number): Promise<{ ops: Op[]; failure: Failure }> {
  const deadline = Date.now() + budgetMs;
  let best = typeof failure.at === 'number' ? ops.slice(0, failure.at + 1) : ops;
  let bestFailure = failure;
  for (let i = best.length - 1; i >= 0 && Date.now() < deadline; i--) {
    const candidate = best.filter((_, j) => j !== i);
    const r = await runSequence(seed, candidate);
    if (r.failure !== null) {
      best = typeof r.failure.at === 'number' ? candidate.slice(0, r.failure.at + 1) : candidate;
      bestFailure = r.failure;
      i = Math.min(i, best.length);
    }
  }
  return { ops: best, failure: bestFailure };
}

function parseSeeds(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    else out.push(Number(part));
  }
  return out;
}

/**
 * Seeds left out of the CI set, each for an engine divergence not fixed yet (see the note by each).
 * They still run when named in LAYERFS_FUZZ_SEEDS.
 */
const KNOWN_DIVERGENT: Record<number, string> = {};

const CI_SEEDS = Array.from({ length: 50 }, (_, i) => i + 1).filter((s) => !(s in KNOWN_DIVERGENT));
const SEEDS = process.env.LAYERFS_FUZZ_SEEDS ? parseSeeds(process.env.LAYERFS_FUZZ_SEEDS) : CI_SEEDS;
const OPS = Number(process.env.LAYERFS_FUZZ_OPS ?? 80);
const SHRINK_MS = Number(process.env.LAYERFS_FUZZ_SHRINK_MS ?? 60000);

async function check(seed: number, source: number | Op[]): Promise<void> {
  const r = await runSequence(seed, source);
  if (r.failure === null) return;
  const small = SHRINK_MS > 0 ? await shrink(seed, r.ops, r.failure, SHRINK_MS) : { ops: r.ops, failure: r.failure };
  const file = path.join(require('node:os').tmpdir(), `layerfs-fuzz-${seed}.json`);
  fs.writeFileSync(file, JSON.stringify({ seed, ops: small.ops }, null, 1));
  assert.unreachable(
    [
      `seed ${seed}: first divergence at ${typeof r.failure.at === 'number' ? `op #${r.failure.at}` : r.failure.at} of ${r.ops.length}`,
      r.failure.message,
      '',
      `minimal reproduction (${small.ops.length} ops, diverging at ${small.failure.at}):`,
      ...small.ops.map((op, i) => `  #${i} ${describeOp(op)}`),
      small.failure.message,
      '',
      `rerun: LAYERFS_FUZZ_SEEDS=${seed} LAYERFS_FUZZ_OPS=${r.ops.length} node scripts/run-tests.js engine fuzz`,
      `replay the minimal list: LAYERFS_FUZZ_REPLAY=${file} node scripts/run-tests.js engine fuzz`,
    ].join('\n'),
  );
}

if (process.env.LAYERFS_FUZZ_REPLAY) {
  const saved = JSON.parse(fs.readFileSync(process.env.LAYERFS_FUZZ_REPLAY, 'utf8')) as { seed: number; ops: Op[] };
  test(`replay of ${process.env.LAYERFS_FUZZ_REPLAY} (seed ${saved.seed}, ${saved.ops.length} ops)`, () => check(saved.seed, saved.ops));
} else {
  for (const seed of SEEDS) test(`write-side fuzz, seed ${seed}, ${OPS} ops`, () => check(seed, OPS));
}

test.run();
