/** Differential: layers built by umoci (and one by our writer with an opaque marker), unpacked by umoci, and by extractLayer stacked under kernel overlayfs. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { extractLayer } from '../../../lib/image/layer/extract';
import { buildTar } from '../../../lib/image/layer/tar-writer';
import { withKernelOverlay } from '../../helpers/kernel-overlay';
import { makeSampleTree, sh, snapshot, withTmp } from './helpers';

function layersOf(layout: string, tag: string): { digest: string; mediaType: string }[] {
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const blob = (d: string): string => path.join(layout, 'blobs', d.replace(':', '/'));
  const manifest = JSON.parse(fs.readFileSync(blob(desc.digest), 'utf8'));
  return manifest.layers.map((l: { digest: string; mediaType: string }) => ({ digest: l.digest, mediaType: l.mediaType, file: blob(l.digest) }));
}

test('umoci layers with whiteouts (and an opaque directory) extracted and stacked under kernel overlayfs equal umoci unpack', () => withTmp(async (dir) => {
  const L = path.join(dir, 'L');
  sh('umoci', ['init', '--layout', L]);
  sh('umoci', ['new', '--image', `${L}:v0`]);
  const b1 = path.join(dir, 'b1');
  sh('umoci', ['unpack', '--image', `${L}:v0`, b1]);
  makeSampleTree(path.join(b1, 'rootfs'));
  fs.mkdirSync(path.join(b1, 'rootfs/opq/keep'), { recursive: true });
  fs.writeFileSync(path.join(b1, 'rootfs/opq/old'), 'old');
  fs.writeFileSync(path.join(b1, 'rootfs/opq/keep/f'), 'f');
  sh('umoci', ['repack', '--image', `${L}:v1`, b1]);

  const b2 = path.join(dir, 'b2');
  sh('umoci', ['unpack', '--image', `${L}:v1`, b2]);
  const r2 = path.join(b2, 'rootfs');
  fs.rmSync(path.join(r2, 'etc/hosts'));
  fs.rmSync(path.join(r2, 'etc/deep'), { recursive: true });
  fs.rmSync(path.join(r2, 'tmp'), { recursive: true });
  fs.writeFileSync(path.join(r2, 'tmp'), 'a file where a directory was');
  fs.chmodSync(path.join(r2, 'owned'), 0o600);
  fs.writeFileSync(path.join(r2, 'bin/new'), 'new');
  fs.linkSync(path.join(r2, 'bin/new'), path.join(r2, 'bin/new-hard'));
  fs.rmSync(path.join(r2, 'dev/fifo'));
  sh('umoci', ['repack', '--image', `${L}:v2`, b2]);

  // A third layer by our writer: an opaque directory, a whiteout, a directory over a file.
  const t = (sec: number) => ({ sec, nsec: 0 });
  const tar = await buildTar([
    { entry: { name: 'opq', type: 'dir', mode: 0o750, mtime: t(5) } },
    { entry: { name: 'opq/.wh..wh..opq', type: 'file', mode: 0o644, mtime: t(0) }, body: Buffer.alloc(0) },
    { entry: { name: 'opq/new', type: 'file', mode: 0o644, mtime: t(6) }, body: Buffer.from('new') },
    { entry: { name: 'bin', type: 'dir', mode: 0o711, mtime: t(8) } },
    { entry: { name: 'bin/.wh.sg', type: 'file', mode: 0o644, mtime: t(0) }, body: Buffer.alloc(0) },
    { entry: { name: 'owned', type: 'dir', mode: 0o755, mtime: t(7) } },
    { entry: { name: 'owned/inside', type: 'file', mode: 0o644, mtime: t(7) }, body: Buffer.from('in') },
  ]);
  const tarFile = path.join(dir, 'l3.tar');
  fs.writeFileSync(tarFile, tar);
  sh('umoci', ['raw', 'add-layer', '--image', `${L}:v2`, '--tag', 'v3', tarFile]);

  const ref = path.join(dir, 'ref');
  sh('umoci', ['unpack', '--image', `${L}:v3`, ref]);

  const layers = layersOf(L, 'v3') as { digest: string; mediaType: string; file: string }[];
  assert.ok(layers.length >= 3);
  const dirs: string[] = [];
  for (const [i, l] of layers.entries()) {
    const d = path.join(dir, `l${i}`);
    fs.mkdirSync(d);
    const r = await extractLayer(fs.createReadStream(l.file), { dest: d, mediaType: l.mediaType, expectedDigest: l.digest, lower: [...dirs] });
    assert.is(r.digest, l.digest);
    dirs.unshift(d);
  }
  // whiteouts are kernel devices, opaque is the xattr; no .wh. file is left
  assert.ok(fs.lstatSync(path.join(dirs[1], 'etc/hosts')).isCharacterDevice());
  assert.is(sh('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', path.join(dirs[0], 'opq')]).toString(), 'y');
  assert.not.ok(fs.existsSync(path.join(dirs[0], 'opq/.wh..wh..opq')));

  const mnt = path.join(dir, 'mnt');
  await withKernelOverlay({ lower: dirs, mountpoint: mnt }, () => {
    const got = snapshot(mnt);
    const want = snapshot(path.join(ref, 'rootfs'));
    // umoci restores the root's time to the second, not the nanosecond its layer says
    got['.'].mtimeNs = want['.'].mtimeNs = '';
    assert.equal(Object.keys(got).sort(), Object.keys(want).sort(), 'names');
    for (const k of Object.keys(want)) assert.equal(got[k], want[k], k);
  });
}));

test.run();
