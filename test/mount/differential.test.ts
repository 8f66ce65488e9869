/**
 * The read-side differential through FUSE: the same layers mounted by the kernel's overlayfs and by
 * layerfs must look the same to a program (names, types, modes, owners, sizes, ns mtimes, link
 * targets, contents, xattrs). Then the write side: the same shell script run on both mounts with an
 * upper, and the kernel mounted over the upper layerfs wrote, must show the same tree again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { mountKernelOverlay, withKernelOverlay } from '../helpers/kernel-overlay';
import { KERNEL_FORM, LayerSpec, MarkerForm, makeLayerSet, tempDir, removeTree } from '../helpers/layers';
import { assertNoMountsUnder, ok, withLayerfs } from '../helpers/layerfs-mount';
import { randomLayers } from '../helpers/random-layers';
import { HAND_MADE } from '../helpers/stacks';
import { diffSnapshots, snapshotMount, TreeSnapshot } from '../helpers/tree';
import * as fs from 'node:fs';
import { transportSnapshot, VIA } from '../helpers/transport';

const LABEL = 'layerfs-mdiff-';
const PREFIX = path.join(os.tmpdir(), LABEL);
const base = () => tempDir(LABEL);

const OCI_FORM: MarkerForm = { whiteout: 'oci', opaque: 'oci' };

async function compareReadOnly(specs: LayerSpec[], forms: MarkerForm[], label: string): Promise<void> {
  const kernelSet = makeLayerSet(specs, KERNEL_FORM, base());
  try {
    const expected = await withKernelOverlay({ lower: kernelSet.lower, mountpoint: path.join(kernelSet.base, 'kmnt') }, (m) => snapshotMount(m.mountpoint));
    for (const form of forms) {
      const set = form === KERNEL_FORM ? kernelSet : makeLayerSet(specs, form, base());
      try {
        const actual = await withLayerfs({ lower: set.lower, mountpoint: path.join(set.base, 'lmnt') }, (m) => snapshotMount(m.mountpoint));
        assert.ok(Object.keys(actual).length > 1, `${label}: the mount shows an empty tree`);
        const diffs = diffSnapshots(transportSnapshot(expected), transportSnapshot(actual));
        assert.equal(diffs, [], `${label} (${form.whiteout} whiteouts, ${form.opaque} opaque):\n${diffs.join('\n')}`);
      } finally {
        if (set !== kernelSet) set.remove();
      }
    }
  } finally {
    kernelSet.remove();
  }
}


test(`read-only: hand-made stack, kernel form and OCI form${VIA}`, async () => {
  await compareReadOnly(HAND_MADE, [KERNEL_FORM, OCI_FORM], 'hand-made');
});

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`read-only: generated stack, seed ${seed}${VIA}`, async () => {
    const specs = randomLayers(seed, { layers: 2 + (seed % 5), opsPerLayer: 30, maxDepth: 4, xattrs: true });
    await compareReadOnly(specs, seed % 2 === 0 ? [KERNEL_FORM, OCI_FORM] : [KERNEL_FORM], `seed ${seed}`);
  });
}

// ---- with an upper: the same script through both mounts ------------------------------------------

const WRITE_STACK: LayerSpec[] = [
  {
    'etc/hosts': { type: 'file', content: '127.0.0.1 localhost\n', mode: 0o644 },
    'etc/gone': { type: 'whiteout' },
    'var/cache/old': { type: 'file', content: 'old cache' },
    'var/cache/sub/deep': { type: 'file', content: 'deep' },
  },
  {
    'etc/passwd': { type: 'file', content: 'root:x:0:0::/root:/bin/sh\n' },
    'etc/gone': { type: 'file', content: 'never seen' },
    'etc/os-release': { type: 'file', content: 'ID=test\nVERSION=1\n', mode: 0o644 },
    'usr/share/doc/readme': { type: 'file', content: 'read me\n' },
    'usr/share/man': { type: 'dir', mode: 0o755 },
    'data/big': { type: 'file', content: 'x'.repeat(100_000) },
    'var/cache/lower-only': { type: 'file', content: 'lower' },
  },
];

/** Shell-level mutations; $M is the mount. Every step must succeed on both. */
const SCRIPT = [
  'echo new > "$M/newfile"',
  'echo appended >> "$M/etc/hosts"',
  'rm "$M/etc/passwd"',
  'mv "$M/usr/share" "$M/share2"',
  'rm -r "$M/var/cache"',
  'mkdir "$M/var/cache"',
  'echo fresh > "$M/var/cache/fresh"',
  'chmod 600 "$M/etc/os-release"',
  'ln "$M/etc/os-release" "$M/etc/os-release.link"',
  'ln -s ../etc/hosts "$M/share2/hosts-link"',
  'setfattr -n user.x -v hello "$M/etc/hosts"',
  'setfattr -n user.y -v meta "$M/share2/doc/readme"',
  'truncate -s 1000 "$M/data/big"',
  'mkdir -p "$M/new/dir/tree" && echo leaf > "$M/new/dir/tree/leaf"',
  'mv "$M/new/dir" "$M/etc/moved-dir"',
].join(' && ');

/** mtimes set by the script are "now" on both sides: compare that both are recent, not the ns. */
function normalizeTimes(s: TreeSnapshot, since: bigint): TreeSnapshot {
  const out: TreeSnapshot = {};
  for (const [k, r] of Object.entries(s)) out[k] = { ...r, mtime: BigInt(r.mtime) >= since ? 'recent' : r.mtime };
  return out;
}

test(`with an upper: the same script on the kernel and on layerfs, then the kernel over layerfs's upper${VIA}`, async () => {
  const kset = makeLayerSet(WRITE_STACK, KERNEL_FORM, base());
  const lset = makeLayerSet(WRITE_STACK, KERNEL_FORM, base());
  const extra = ['redirect_dir=on', 'metacopy=on'];
  try {
    const since = BigInt(Date.now() - 2000) * 1_000_000n;
    const expected = await withKernelOverlay(
      { lower: kset.lower, upper: kset.upper, work: kset.work, mountpoint: path.join(kset.base, 'kmnt'), extra },
      async (m) => {
        await ok(`M='${m.mountpoint}'; ${SCRIPT}`);
        return snapshotMount(m.mountpoint);
      },
    );
    const actual = await withLayerfs({ lower: lset.lower, upper: lset.upper, work: lset.work, mountpoint: path.join(lset.base, 'lmnt') }, async (m) => {
      await ok(`M='${m.mountpoint}'; ${SCRIPT}`);
      return snapshotMount(m.mountpoint);
    });
    // The script did happen (a sanity check of the comparison itself).
    assert.equal(actual['/etc/hosts'].xattrs, { 'user.x': Buffer.from('hello').toString('hex') });
    assert.is(actual['/etc/os-release'].nlink, 2);
    assert.is(actual['/share2/doc/readme'].size, 8);
    assert.is(actual['/usr/share'], undefined);
    assert.equal(actual['/var/cache'].children, ['fresh']);
    const diffs = diffSnapshots(transportSnapshot(normalizeTimes(expected, since)), transportSnapshot(normalizeTimes(actual, since)));
    assert.equal(diffs, [], `layerfs after the script differs from the kernel:\n${diffs.join('\n')}`);

    // The kernel reads the upper layerfs wrote, with a fresh work dir: the very same tree, to the ns.
    const work2 = path.join(lset.base, 'work2');
    fs.mkdirSync(work2);
    const km = mountKernelOverlay({ lower: lset.lower, upper: lset.upper, work: work2, mountpoint: path.join(lset.base, 'kmnt2'), extra });
    let reread: TreeSnapshot;
    try {
      reread = snapshotMount(km.mountpoint);
    } finally {
      km.unmount();
    }
    const diffs2 = diffSnapshots(transportSnapshot(actual), transportSnapshot(reread));
    assert.equal(diffs2, [], `the kernel over layerfs's upper differs from what layerfs showed:\n${diffs2.join('\n')}`);
  } finally {
    kset.remove();
    lset.remove();
  }
});

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
  for (const d of fs.readdirSync(os.tmpdir())) if (d.startsWith(LABEL)) removeTree(path.join(os.tmpdir(), d));
});

test.run();
