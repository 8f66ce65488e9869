import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { Overlay } from '../../lib/engine';
import { withKernelOverlay } from '../helpers/kernel-overlay';
import { KERNEL_FORM, LayerSpec, MarkerForm, makeLayerSet } from '../helpers/layers';
import { randomLayers } from '../helpers/random-layers';
import { diffSnapshots, snapshotEngine, snapshotMount } from '../helpers/tree';
import { HAND_MADE } from '../helpers/stacks';

/**
 * The kernel's overlayfs is the reference: the same layers, mounted by the kernel and opened by the
 * engine, must show the same tree: names, types, modes, owners, sizes, ns mtimes, link targets,
 * contents, xattrs. Layers in other marker forms (OCI, xattr whiteouts) must show the kernel's tree
 * of the kernel form.
 */
async function compare(specs: LayerSpec[], engineForms: MarkerForm[], label: string): Promise<void> {
  const kernelSet = makeLayerSet(specs, KERNEL_FORM);
  try {
    const expected = await withKernelOverlay({ lower: kernelSet.lower, mountpoint: path.join(kernelSet.base, 'mnt') }, (m) => snapshotMount(m.mountpoint));
    for (const form of [KERNEL_FORM, ...engineForms]) {
      const set = form === KERNEL_FORM ? kernelSet : makeLayerSet(specs, form);
      const ov = Overlay.open({ lower: set.lower });
      try {
        const diffs = diffSnapshots(expected, snapshotEngine(ov));
        assert.equal(diffs, [], `${label} (${form.whiteout} whiteouts, ${form.opaque} opaque):\n${diffs.join('\n')}`);
      } finally {
        ov.close();
        if (set !== kernelSet) set.remove();
      }
    }
  } finally {
    kernelSet.remove();
  }
}

const OTHER_FORMS: MarkerForm[] = [
  { whiteout: 'oci', opaque: 'oci' },
  { whiteout: 'xattr', opaque: 'xattr' },
];

test('hand-made stack: every rule at least once', async () => {
  await compare(
    HAND_MADE,
    OTHER_FORMS,
    'hand-made',
  );
});

const SEEDS = process.env.LAYERFS_SEEDS ? process.env.LAYERFS_SEEDS.split(',').map(Number) : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

for (const seed of SEEDS) {
  test(`generated stack, seed ${seed}`, async () => {
    const specs = randomLayers(seed, { layers: 2 + (seed % 5), opsPerLayer: 30, maxDepth: 4, xattrs: true });
    await compare(specs, OTHER_FORMS, `seed ${seed} (rerun: LAYERFS_SEEDS=${seed})`);
  });
}

test('generated stack of 500 layers (the kernel maximum)', async () => {
  const specs = randomLayers(500, { layers: 500, opsPerLayer: 2, maxDepth: 3, namePool: ['a', 'b', 'c', 'd', 'e', 'f'] });
  await compare(specs, [], '500 layers (rerun: seed 500)');
});

test('deep tree: 40 levels through 3 layers', async () => {
  const deep = (n: number, leaf: string) => Array.from({ length: n }, (_, i) => `d${i}`).join('/') + '/' + leaf;
  await compare(
    [{ [deep(40, 'top')]: { type: 'file', content: 't' } }, { [deep(40, 'gone')]: { type: 'file' }, [deep(20, 'mid')]: { type: 'file' } }, { [deep(39, 'bottom')]: { type: 'file' } }],
    OTHER_FORMS,
    'deep',
  );
});

test.run();
