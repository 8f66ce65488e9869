import { test } from 'uvu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MountHandle, MountOptions } from '../../lib/mount';
import { compareRuns, engineOverUpper, LooseMtimes, MOUNT_OPTS, normalize, registerFuzz, RunResult, specsFor } from '../helpers/fuzz';
import { KernelMount, mountKernelOverlay } from '../helpers/kernel-overlay';
import { assertNoMountsUnder, withLayerfs } from '../helpers/layerfs-mount';
import { LayerSet, makeLayerSet, tempDir } from '../helpers/layers';
import { applyKernel, kernelState, Op } from '../helpers/ops';
import { diffSnapshots, snapshotMount, TreeSnapshot } from '../helpers/tree';
import { NATIVE, NATIVE_EXCLUDED_SCENARIOS, VIA } from '../helpers/transport';

/**
 * The write-side differential fuzzer through FUSE: the seeded op sequences of the engine fuzzer
 * (helpers/ops.ts, helpers/fuzz.ts) applied with real system calls both to a kernel overlayfs mount
 * (redirect_dir=on, metacopy=on) and to a layerfs mount of identical layer copies, as programs see
 * them. Every op's outcome and the state of the paths it touched must agree, then the whole trees;
 * then the kernel, mounted over the upper layerfs wrote (fresh work dir), must show layerfs's tree,
 * and the engine, opened over the upper the kernel wrote, the kernel's.
 *
 * What a FUSE mount cannot match is not compared (the snapshots in ops.ts/tree.ts leave it out):
 * st_dev and inode numbers (a FUSE device, engine-made numbers), atime (the kernel's relatime
 * updates on the overlay mount's reads) and ctime (changed by every copy-up the kernel does).
 *
 * The op generator reads the kernel mount, so both sides see the same sequence. The kernel caches
 * what layerfs answers (entries and attributes of lower objects for an hour): a stale answer after a
 * change made through the same mount shows here as a divergence, and is a bug of lib/mount.
 *
 * Rerun one seed:  LAYERFS_FUZZ_SEEDS=17 node scripts/run-tests.js mount fuzz
 * More seeds/ops:  LAYERFS_FUZZ_SEEDS=1-200 LAYERFS_FUZZ_OPS=100 node scripts/run-tests.js mount fuzz
 * Replay a saved (shrunk) op list: LAYERFS_FUZZ_REPLAY=/tmp/layerfs-fuzz-mount-17.json ...
 */

// Both mounts apply the process umask to what they create (the FUSE request carries it); none, so
// the modes the generator picks reach both as they are.
// All test files share one process: the umask is set for this file's tests only.
const savedUmask = process.umask();
test.before(() => {
  process.umask(0);
});
test.after(() => {
  process.umask(savedUmask);
});

const LABEL = 'layerfs-mfuzz-';
const PREFIX = path.join(os.tmpdir(), LABEL);

async function runSequence(seed: number, source: number | Op[]): Promise<RunResult> {
  const specs = specsFor(seed);
  const kset: LayerSet = makeLayerSet(specs, undefined, tempDir(LABEL));
  let lset: LayerSet | null = null;
  let kmount: KernelMount | null = null;
  let check: KernelMount | null = null;
  const loose = new LooseMtimes(kset.upper);
  try {
    lset = makeLayerSet(specs, undefined, tempDir(LABEL));
    const ls = lset;
    kmount = mountKernelOverlay({ lower: kset.lower, upper: kset.upper, work: kset.work, mountpoint: path.join(kset.base, 'mnt'), extra: MOUNT_OPTS });
    const root = kmount.mountpoint;
    let kernelView: TreeSnapshot | null = null;
    let layerfsView: TreeSnapshot | null = null;
    // Each I/O mode in turn: kernel opens (an unprivileged mount's default), the default here (server
    // opens with kernel passthrough), server opens served by us through the kernel's writeback cache.
    // (fuse-native: one mode, served by us without the writeback cache)
    const io = (NATIVE ? {} : [{ opens: 'kernel' }, {}, { opens: 'server', passthrough: false }][seed % 3]) as Partial<MountOptions>;
    const r = await withLayerfs({ lower: ls.lower, upper: ls.upper, work: ls.work, metacopy: true, mountpoint: path.join(ls.base, 'lmnt'), ...io }, async (m: MountHandle) => {
      const lroot = m.mountpoint;
      const run = await compareRuns(seed, source, root, { apply: async (op, skip) => (skip !== null ? { skip } : applyKernel(lroot, op)), state: (p) => kernelState(lroot, p), exclude: NATIVE_EXCLUDED_SCENARIOS }, loose);
      if (run.failure !== null) return run;
      kernelView = normalize(snapshotMount(root), loose);
      layerfsView = normalize(snapshotMount(lroot), loose);
      return run;
    });
    if (r.failure !== null) return r;
    const fail = (at: string, diffs: string[]): RunResult => ({ ...r, failure: { at, message: diffs.join('\n') } });
    const diffs = diffSnapshots(kernelView!, layerfsView!);
    if (diffs.length > 0) return fail('final tree', diffs);

    // On disk: the kernel must read the upper layerfs wrote as layerfs showed it...
    kmount.unmount();
    kmount = null;
    const work2 = path.join(ls.base, 'work2');
    fs.mkdirSync(work2);
    check = mountKernelOverlay({ lower: ls.lower, upper: ls.upper, work: work2, mountpoint: path.join(ls.base, 'mnt2'), extra: MOUNT_OPTS });
    const onDisk = diffSnapshots(normalize(snapshotMount(check.mountpoint), loose), layerfsView!);
    if (onDisk.length > 0) return fail('kernel over layerfs upper', onDisk);

    // ...and the engine the upper the kernel wrote as the kernel showed it.
    const reverse = engineOverUpper(kset.lower, kset.upper, path.join(kset.base, 'work-engine'), kernelView!, loose);
    if (reverse.length > 0) return fail('engine over kernel upper', reverse);
    return r;
  } finally {
    kmount?.unmount();
    check?.unmount();
    kset.remove();
    lset?.remove();
  }
}

registerFuzz({
  folder: 'mount',
  title: `fuzz through FUSE${VIA}`,
  // Sized for CI (~30 s on 2 cores): a seed of 60 ops, with its three mounts, takes ~0.7 s.
  ciSeeds: NATIVE ? 12 : 40,
  ops: 60,
  run: runSequence,
});

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
});

test.run();
