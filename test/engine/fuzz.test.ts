import { test } from 'uvu';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { KernelMount, mountKernelOverlay } from '../helpers/kernel-overlay';
import { LayerSet, makeLayerSet } from '../helpers/layers';
import { compareRuns, engineOverUpper, LooseMtimes, MOUNT_OPTS, normalize, registerFuzz, RunResult, specsFor } from '../helpers/fuzz';
import { applyEngine, engineState, Op } from '../helpers/ops';
import { diffSnapshots, snapshotEngine, snapshotMount } from '../helpers/tree';

/**
 * Differential fuzzing of the write side: seeded random operation sequences run against kernel
 * overlayfs (redirect_dir=on, metacopy=on) and the engine over identical copies of the same
 * generated layers. Every op's outcome (success and what it returned, or the errno) and the state of
 * the paths it touched must agree; at the end the whole merged trees must too, the engine opened
 * over the kernel's upper layer must read it as the kernel did, and the kernel, mounted over the
 * engine's upper layer, must read it as the engine does. The shared machinery is in helpers/fuzz.ts.
 *
 * Rerun one seed:  LAYERFS_FUZZ_SEEDS=17 node scripts/run-tests.js engine fuzz
 * More seeds/ops:  LAYERFS_FUZZ_SEEDS=1-500 LAYERFS_FUZZ_OPS=100 node scripts/run-tests.js engine fuzz
 * Replay a saved (shrunk) op list: LAYERFS_FUZZ_REPLAY=/tmp/layerfs-fuzz-engine-17.json ...
 * LAYERFS_FUZZ_SHRINK_MS bounds the shrinking of a failing sequence (default 60000, 0 = off).
 */

// The kernel applies the process umask to the modes it creates; the engine takes modes as given
// (the FUSE edge applies the request's umask), so the reference runs with none.
// All test files share one process: the umask is set for this file's tests only.
const savedUmask = process.umask();
test.before(() => {
  process.umask(0);
});
test.after(() => {
  process.umask(savedUmask);
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
  const loose = new LooseMtimes(kset.upper);
  try {
    eset = makeLayerSet(specs);
    kmount = mountKernelOverlay({ lower: kset.lower, upper: kset.upper, work: kset.work, mountpoint: path.join(kset.base, 'mnt'), extra: MOUNT_OPTS });
    ov = Overlay.open({ lower: eset.lower, upper: eset.upper, work: eset.work, metacopy: true });
    const engine = ov;
    const root = kmount.mountpoint;
    const r = await compareRuns(seed, source, root, { apply: (op, skip) => applyEngine(engine, op, skip), state: (p) => engineState(engine, p) }, loose);
    if (r.failure !== null) return r;
    const fail = (at: string, diffs: string[]): RunResult => ({ ...r, failure: { at, message: diffs.join('\n') } });
    const kernelView = normalize(snapshotMount(root), loose);
    const engineView = normalize(snapshotEngine(ov), loose);
    const diffs = diffSnapshots(kernelView, engineView);
    if (diffs.length > 0) return fail('final tree', diffs);

    // On disk, both ways: the engine must read the upper layer the kernel wrote as the kernel did...
    kmount.unmount();
    kmount = null;
    const reverse = engineOverUpper(kset.lower, kset.upper, path.join(kset.base, 'work-engine'), kernelView, loose);
    if (reverse.length > 0) return fail('engine over kernel upper', reverse);

    // ...and the kernel must read the engine's upper layer as the engine does.
    const work2 = path.join(eset.base, 'work2');
    fs.mkdirSync(work2);
    check = mountKernelOverlay({ lower: eset.lower, upper: eset.upper, work: work2, mountpoint: path.join(eset.base, 'mnt2'), extra: MOUNT_OPTS });
    const onDisk = diffSnapshots(normalize(snapshotMount(check.mountpoint), loose), engineView);
    if (onDisk.length > 0) return fail('kernel over engine upper', onDisk);
    return r;
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

registerFuzz({
  folder: 'engine',
  title: 'write-side fuzz',
  ciSeeds: 50,
  ops: 80,
  run: runSequence,
});

test.run();
