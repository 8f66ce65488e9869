/**
 * No operation depends on the length of a merged path (issue 18): a chain of 10,000 directories
 * works through a layerfs mount as through the kernel's overlayfs (walk, create and copy-up at the
 * bottom, rename in the middle, rm -rf of it all), and so do objects whose path from the upper root
 * is around PATH_MAX (4,096 bytes). Every program here walks one component at a time (python3 with
 * directory descriptors, find, rm), as programs must once a path is longer than PATH_MAX. Each
 * scenario runs on the kernel (whose answers are also checked against what they must be, so a
 * wrong test shows as such) and on layerfs, whose answers, errnos and upper tree must be the kernel's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import { assertNoMountsUnder, withLayerfs } from '../helpers/layerfs-mount';
import { missing, testIf } from '../helpers/skip';
import { VIA } from '../helpers/transport';
import {
  buildChain, chain, copiedUpChain, deepScratch, DeepOp, DeepResult, differences, findTypes, rmRf, runOps, Steps, treeLines,
} from '../helpers/deep-tree';

const LABEL = 'layerfs-mdeep-';
const PREFIX = path.join(os.tmpdir(), LABEL);
const t = testIf(test, missing('root', '/dev/fuse'));

const DEPTH = 10_000;
const MID = 5_000;
const BOTTOM = 'bottom\n';
/** The kernel renames a lower directory (leaving a redirect) only with redirect_dir=on, layerfs always. */
const KERNEL_EXTRA = ['redirect_dir=on'];

let shared: { dir: string; remove(): void } | null = null;

/** The lower layer, built once: d/d/.../d (DEPTH) with a file f holding BOTTOM. */
async function deepLower(): Promise<string> {
  if (shared === null) {
    shared = deepScratch(LABEL);
    fs.mkdirSync(path.join(shared.dir, 'lower'));
    await buildChain(path.join(shared.dir, 'lower'), DEPTH, BOTTOM);
  }
  return path.join(shared.dir, 'lower');
}

interface Side {
  /** The merged root. */
  root: string;
  upper: string;
  /** Where the mounts are (what a bounded child aborts when it hangs). */
  under: string;
}

interface Dirs { upper: string; work: string; mnt: string; base: string }

function sideDirs(base: string, side: string): Dirs {
  const d = { upper: path.join(base, side, 'upper'), work: path.join(base, side, 'work'), mnt: path.join(base, side, 'mnt') };
  for (const p of Object.values(d)) fs.mkdirSync(p, { recursive: true });
  return { ...d, base: path.join(base, side) };
}

type Mounter = <T>(d: Dirs, fn: (s: Side) => Promise<T>) => Promise<T>;

const onKernel = (lower: string): Mounter => (d, fn) =>
  withKernelOverlay({ lower: [lower], upper: d.upper, work: d.work, mountpoint: d.mnt, extra: KERNEL_EXTRA },
    (m) => fn({ root: m.mountpoint, upper: d.upper, under: d.base }));

const onLayerfs = (lower: string): Mounter => (d, fn) =>
  withLayerfs({ lower: [lower], upper: d.upper, work: d.work, mountpoint: d.mnt },
    (m) => fn({ root: m.mountpoint, upper: d.upper, under: d.base }));

/** Runs `fn` on the kernel's overlayfs, then on layerfs, each over `lower` with an empty upper of its own. */
async function onBoth<T>(lower: string, fn: (s: Side) => Promise<T>): Promise<{ kernel: T; layerfs: T; base: string; done(): void }> {
  const scratch = deepScratch(LABEL);
  try {
    const kernel = await onKernel(lower)(sideDirs(scratch.dir, 'kernel'), fn);
    const layerfs = await onLayerfs(lower)(sideDirs(scratch.dir, 'layerfs'), fn);
    return { kernel, layerfs, base: scratch.dir, done: scratch.remove };
  } catch (err) {
    scratch.remove();
    throw err;
  }
}

/** The kernel's answers must be `expected` (the test itself is right), then layerfs' the kernel's. */
function same<T>(r: { kernel: T; layerfs: T }, expected: T, what: string): void {
  const json = (v: unknown) => JSON.stringify(v);
  assert.ok(json(r.kernel) === json(expected), `${what}: the kernel's overlayfs answers otherwise (the test is wrong):\n${differences(expected, r.kernel)}`);
  assert.ok(json(r.layerfs) === json(r.kernel), `${what}: layerfs answers otherwise than the kernel's overlayfs:\n${differences(r.kernel, r.layerfs)}`);
}

const ok = (v: string | string[] | null = null): DeepResult => ({ ok: v });
const ENOENT: DeepResult = { err: 'ENOENT' };

// ---- the chain of 10,000: one sequence per side, each step checked by a test of its own -------------
//
// The kernel takes tens of seconds for the copy-up of 10,000 ancestors and for rm -rf (its own
// work grows with the depth at every level), so each side runs the whole sequence once, on one
// upper: walk, create at the bottom, copy-up at the bottom, rename at MID (then remounted), rm -rf.

const NEW = 'created at the bottom\n';
const MORE = 'appended\n';
/** d (MID-1 times), then r where d was, then the rest of the chain. */
const RENAMED: Steps = [['d', MID - 1], ['r', 1], ['d', DEPTH - MID]];

async function sequence(s: Side) {
  const walk = {
    find: await findTypes(s.root, s.under),
    ops: await runOps(s.root, [
      { op: 'stat', at: chain(DEPTH), name: 'f' },
      { op: 'read', at: chain(DEPTH), name: 'f' },
      { op: 'stat', at: chain(DEPTH - 1), name: 'd' },
      { op: 'list', at: chain(DEPTH), name: '.' },
    ], s.under),
    upper: await treeLines(s.upper, s.under),
  };
  const create = {
    first: await runOps(s.root, [
      { op: 'create', at: chain(DEPTH), name: 'new', data: NEW },
      { op: 'read', at: chain(DEPTH), name: 'new' },
    ], s.under),
    second: await runOps(s.root, [
      { op: 'read', at: chain(DEPTH), name: 'new' },
      { op: 'list', at: chain(DEPTH), name: '.' },
    ], s.under),
    inUpper: await runOps(s.upper, [{ op: 'read', at: chain(DEPTH), name: 'new' }], s.under),
    upper: await treeLines(s.upper, s.under),
  };
  const copyUp = {
    ops: await runOps(s.root, [
      { op: 'append', at: chain(DEPTH), name: 'f', data: MORE },
      { op: 'read', at: chain(DEPTH), name: 'f' },
    ], s.under),
    again: await runOps(s.root, [{ op: 'read', at: chain(DEPTH), name: 'f' }], s.under),
    inUpper: await runOps(s.upper, [{ op: 'read', at: chain(DEPTH), name: 'f' }], s.under),
    upper: await treeLines(s.upper, s.under),
  };
  const rename = {
    rename: await runOps(s.root, [{ op: 'rename', at: chain(MID - 1), name: 'd', to: 'r' }], s.under),
    after: await runOps(s.root, [
      { op: 'list', at: chain(MID - 1), name: '.' },
      { op: 'stat', at: chain(MID - 1), name: 'd' },
      { op: 'read', at: RENAMED, name: 'f' },
      { op: 'read', at: RENAMED, name: 'new' },
    ], s.under),
    find: await findTypes(s.root, s.under),
    upper: await treeLines(s.upper, s.under),
  };
  return { walk, create, copyUp, rename };
}

/** After a remount: the renamed tree as the sequence left it, then rm -rf of it all. */
async function removal(s: Side) {
  return {
    remounted: await runOps(s.root, [
      { op: 'stat', at: chain(MID - 1), name: 'd' },
      { op: 'read', at: RENAMED, name: 'f' },
    ], s.under),
    rm: await rmRf(s.root, 'd', s.under),
    after: await runOps(s.root, [
      { op: 'list', at: [], name: '.' },
      { op: 'stat', at: [], name: 'd' },
    ], s.under),
    find: await findTypes(s.root, s.under),
    upper: await treeLines(s.upper, s.under),
  };
}

type Seq = Awaited<ReturnType<typeof sequence>> & { removal: Awaited<ReturnType<typeof removal>> };

/**
 * Both sides' runs, side by side (layerfs while the kernel works: two processes' time, one wait);
 * layerfs' upper is also read by the kernel (a fresh work dir) between the rename and rm -rf.
 */
let both: Promise<{ kernel: Seq; layerfs: Seq; kernelOverLayerfs: DeepResult[] }> | null = null;

function runBoth(): Promise<{ kernel: Seq; layerfs: Seq; kernelOverLayerfs: DeepResult[] }> {
  both ??= (async () => {
    const lower = await deepLower();
    const base = path.join(shared!.dir, 'sides');
    const side = async (mounter: Mounter, d: Dirs): Promise<Seq> => {
      const seq = await mounter(d, sequence);
      return { ...seq, removal: await mounter(d, removal) };
    };
    const times: string[] = [];
    const timed = async <T>(what: string, p: Promise<T>) => { const t0 = Date.now(); const v = await p; times.push(`${what} ${Date.now() - t0} ms`); return v; };
    const l = sideDirs(base, 'layerfs');
    // Both settle before anything is thrown: no side still running when the scratch goes.
    const [k, lf] = await Promise.allSettled([
      timed('kernel', side(onKernel(lower), sideDirs(base, 'kernel'))),
      timed('layerfs', (async () => {
        const seq = await onLayerfs(lower)(l, sequence);
        // Between the two mounts: the kernel reads what layerfs wrote.
        const k2 = sideDirs(base, 'kernel-over-layerfs');
        const kernelOverLayerfs = await withKernelOverlay({ lower: [lower], upper: l.upper, work: k2.work, mountpoint: k2.mnt, extra: KERNEL_EXTRA },
          (m) => runOps(m.mountpoint, [
            { op: 'stat', at: chain(MID - 1), name: 'd' },
            { op: 'read', at: RENAMED, name: 'f' },
            { op: 'read', at: RENAMED, name: 'new' },
          ], k2.base));
        return { seq: { ...seq, removal: await onLayerfs(lower)(l, removal) }, kernelOverLayerfs };
      })()),
    ]);
    if (process.env.LAYERFS_DEEP_TIMES) console.log(`  ${times.join(', ')}`);
    if (k.status === 'rejected') throw k.reason;
    if (lf.status === 'rejected') throw lf.reason;
    return { kernel: k.value, layerfs: lf.value.seq, kernelOverLayerfs: lf.value.kernelOverLayerfs };
  })();
  return both;
}

/** The upper after the sequence's step: the chain copied up, `bottom` (sorted) in its last directory. */
const chainUpper = (bottom: string[], renamed = false) => copiedUpChain(DEPTH, bottom, renamed ? MID : undefined);

const step = <K extends keyof Seq>(k: K) => async () => {
  const r = await runBoth();
  return { kernel: r.kernel[k], layerfs: r.layerfs[k] };
};

t(`a chain of ${DEPTH} directories: find walks all of it, the bottom file is there${VIA}`, async () => {
  same(await step('walk')(), {
    find: { d: DEPTH + 1, f: 1 },
    ops: [ok(`f ${BOTTOM.length}`), ok(BOTTOM), ok('d'), ok(['f'])],
    upper: [],
  }, 'walk');
});

t(`create a file at depth ${DEPTH} and read it back, from a second process too; the upper holds it there${VIA}`, async () => {
  same(await step('create')(), {
    first: [ok(), ok(NEW)],
    second: [ok(NEW), ok(['f', 'new'])],
    inUpper: [ok(NEW)],
    upper: chainUpper([`new f ${NEW.length}`]),
  }, 'create at the bottom');
});

t(`copy-up of the lower file at depth ${DEPTH}: append, read back, the upper holds it there${VIA}`, async () => {
  same(await step('copyUp')(), {
    ops: [ok(), ok(BOTTOM + MORE)],
    again: [ok(BOTTOM + MORE)],
    inUpper: [ok(BOTTOM + MORE)],
    upper: chainUpper([`f f ${BOTTOM.length + MORE.length}`, `new f ${NEW.length}`]),
  }, 'copy-up at the bottom');
  // The lower layer is never written.
  assert.equal(await runOps(await deepLower(), [{ op: 'read', at: chain(DEPTH), name: 'f' }], shared!.dir), [ok(BOTTOM)]);
});

t(`rename of the directory at depth ${MID}: the bottom is reached through the new name only; the kernel reads layerfs' upper alike${VIA}`, async () => {
  same(await step('rename')(), {
    rename: [ok()],
    after: [ok(['r']), ENOENT, ok(BOTTOM + MORE), ok(NEW)],
    find: { d: DEPTH + 1, f: 2 },
    // The old name whited out, the moved directory redirected to where its lower part is.
    upper: chainUpper([`f f ${BOTTOM.length + MORE.length}`, `new f ${NEW.length}`], true),
  }, 'rename');
  assert.equal((await runBoth()).kernelOverLayerfs, [ENOENT, ok(BOTTOM + MORE), ok(NEW)], 'the kernel over layerfs\' upper');
});

t(`rm -rf of it all after a remount: the merged root is empty, one whiteout in the upper${VIA}`, async () => {
  same(await step('removal')(), {
    remounted: [ENOENT, ok(BOTTOM + MORE)],
    rm: { code: 0, err: '' },
    after: [ok([]), ENOENT],
    find: { d: 1 },
    // Every merged directory removed leaves a whiteout: the top one covers all.
    upper: ['1 d w'],
  }, 'rm -rf');
});

// ---- paths around PATH_MAX from the upper root -----------------------------------------------

/** Components of 200 bytes, then one that makes the path from the root exactly `length` bytes. */
function pathOf(length: number): { at: Steps; name: string } {
  const n = Math.ceil((length - 255) / 201);
  const rest = length - 201 * n;
  return { at: [['p'.repeat(200), n]], name: 'q'.repeat(rest) };
}

const LENGTHS = [4000, 4094, 4095, 4096, 4097, 4100, 4200];

t(`mkdir, stat, rmdir, create, unlink at ${LENGTHS.join(', ')} bytes from the upper root; copy-up of a lower file at 4,100${VIA}`, async () => {
  const base = deepScratch(LABEL);
  try {
    const lower = path.join(base.dir, 'lower');
    fs.mkdirSync(lower);
    const low = pathOf(4100);
    assert.equal(await runOps(lower, [
      { op: 'mkdirs', at: low.at },
      { op: 'create', at: low.at, name: 'lower-' + low.name.slice(6), data: BOTTOM },
    ], base.dir), [ok(), ok()]);
    const lowName = 'lower-' + low.name.slice(6);
    const ops: DeepOp[] = [];
    const expected: DeepResult[] = [];
    for (const length of LENGTHS) {
      const { at, name } = pathOf(length);
      assert.is(at[0][0].length * at[0][1] + at[0][1] + name.length, length);
      ops.push(
        { op: 'mkdirs', at },
        { op: 'mkdir', at, name }, { op: 'stat', at, name }, { op: 'mkdir', at, name },
        { op: 'list', at, name }, { op: 'rmdir', at, name }, { op: 'stat', at, name },
        { op: 'create', at, name, data: 'z' }, { op: 'stat', at, name }, { op: 'read', at, name },
        { op: 'unlink', at, name }, { op: 'stat', at, name }, { op: 'rmdir', at, name },
      );
      expected.push(
        ok(),
        ok(), ok('d'), { err: 'EEXIST' },
        ok([]), ok(), ENOENT,
        ok(), ok('f 1'), ok('z'),
        ok(), ENOENT, ENOENT,
      );
    }
    ops.push({ op: 'append', at: low.at, name: lowName, data: 'more' }, { op: 'read', at: low.at, name: lowName });
    expected.push(ok(), ok(BOTTOM + 'more'));
    const r = await onBoth(lower, async (s) => ({
      ops: await runOps(s.root, ops, s.under),
      inUpper: await runOps(s.upper, [{ op: 'read', at: low.at, name: lowName }], s.under),
      upper: await treeLines(s.upper, s.under),
    }));
    try {
      // Each answer labelled with its operation and the length of its path from the root.
      const label = (o: DeepOp) => `${o.op} ${o.at.reduce((a, [n, c]) => a + (n.length + 1) * c, 0) + ('name' in o ? o.name.length : -1)}`;
      const labelled = (rs: DeepResult[]) => rs.map((res, i) => `${label(ops[i])}: ${JSON.stringify(res)}`);
      same({ kernel: labelled(r.kernel.ops), layerfs: labelled(r.layerfs.ops) }, labelled(expected), 'long paths');
      same({ kernel: r.kernel.inUpper, layerfs: r.layerfs.inUpper }, [ok(BOTTOM + 'more')], 'the copied-up lower file in the upper');
      const diff = differences(r.kernel.upper, r.layerfs.upper, 'upper');
      assert.ok(diff === '', `long paths: layerfs' upper differs from the kernel's:\n${diff}`);
    } finally {
      r.done();
    }
  } finally {
    base.remove();
  }
});

test('no mount left behind', () => {
  shared?.remove();
  shared = null;
  assertNoMountsUnder(PREFIX);
});

test.run();
