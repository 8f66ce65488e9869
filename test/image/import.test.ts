/**
 * An image of three layers with every kind of object and change, imported from oci: and from
 * docker-archive: (written by skopeo), mounted by layerfs, compared object by object with
 * `umoci unpack`'s rootfs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { Store } from '../../lib/image';
import { trackMount, untrackMount } from '../helpers/mounts';
import { compareSnapshots, hardLinkGroups, makeRichLayers, sh, snapshotWithCaps, tarLayer, tmp, umociUnpack, writeOciLayout } from './helpers';

const dir = tmp('import');
const layers = makeRichLayers(path.join(dir, 'src'));
const layout = path.join(dir, 'layout');
writeOciLayout(layout, 'rich', [tarLayer(layers[0], path.join(dir, 'l1'), 'gzip'), tarLayer(layers[1], path.join(dir, 'l2'), 'gzip'), tarLayer(layers[2], path.join(dir, 'l3'), 'none')]);
const reference = umociUnpack(layout, 'rich', path.join(dir, 'umoci'));

// directory nlink counts subdirectories, which FUSE mounts report as the kernel does; the root's
// times are umoci's own (it makes the dir)
const ignore = (rel: string, f: string) => (f === 'nlink' && rel !== '/bin/tool') || (rel === '/' && (f === 'mtime' || f === 'mode'));

async function checkMounted(store: Store, image: string, label: string): Promise<void> {
  const c = await store.createContainer(image);
  const m = await c.mount(path.join(dir, `mnt-${label}`));
  trackMount(m.mountpoint);
  try {
    const diff = compareSnapshots(snapshotWithCaps(reference), snapshotWithCaps(m.mountpoint), ignore);
    assert.is(diff, '', `${label}: the mount differs from umoci's rootfs:\n${diff}`);
    assert.equal(hardLinkGroups(m.mountpoint), hardLinkGroups(reference), `${label}: hard links`);
  } finally {
    await m.unmount();
    untrackMount(m.mountpoint);
  }
}

test('oci: import, mounted, equals umoci unpack object by object', async () => {
  const store = await Store.open({ root: path.join(dir, 'store') });
  const img = await store.import(`oci:${layout}:rich`, 'rich:1');
  assert.is(img.layers.length, 3);
  assert.equal(img.tags, ['rich:1']);
  await checkMounted(store, 'rich:1', 'oci');
  store.close();
});

test('docker-archive: (skopeo) import, mounted, equals umoci unpack', async () => {
  const archive = path.join(dir, 'docker.tar');
  sh('skopeo', ['copy', '-q', `oci:${layout}:rich`, `docker-archive:${archive}:rich:docker`]);
  const store = await Store.open({ root: path.join(dir, 'store') });
  const img = await store.import(`docker-archive:${archive}`, 'rich:docker');
  // uncompressed layers whose digests are the diffIDs: the same extracted layers as the oci: import
  const first = store.image('rich:1');
  assert.equal(img.layers.map((l) => l.diffID), first.layers.map((l) => l.diffID));
  await checkMounted(store, 'rich:docker', 'docker');
  store.close();
});

test('zstd layers (umoci 0.4 reads none): the same extracted layers as gzip ones', async () => {
  const z = path.join(dir, 'zlayout');
  // the very tars of the gzip image, compressed with zstd
  const zst = ['l1', 'l2', 'l3'].map((n) => {
    sh('zstd', ['-q', '-f', path.join(dir, `${n}.tar`), '-o', path.join(dir, `${n}.tar.zst`)]);
    return { file: path.join(dir, `${n}.tar.zst`), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' };
  });
  writeOciLayout(z, 'z', zst);
  const store = await Store.open({ root: path.join(dir, 'store') });
  const img = await store.import(`oci:${z}:z`, 'rich:zstd');
  assert.ok(img.layers.every((l) => l.blob.mediaType.endsWith('+zstd')));
  assert.equal(img.layers.map((l) => l.diffID), store.image('rich:1').layers.map((l) => l.diffID));
  await checkMounted(store, 'rich:zstd', 'zstd');
  store.close();
});

test.run();
