/** Exports read by the peers (skopeo, umoci, podman load), round trips, platform selection. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyImage, openSource, Store, hostPlatform } from '../../lib/image';
import { sha256 } from '../../lib/image/digest';
import { compareSnapshots, makeRichLayers, rejects, sh, snapshotWithCaps, tarLayer, tmp, umociUnpack, writeOciLayout } from './helpers';

const dir = tmp('tr');
const layers = makeRichLayers(path.join(dir, 'src'));
const layout = path.join(dir, 'layout');
const digest = writeOciLayout(layout, 'rich', layers.map((l, i) => tarLayer(l, path.join(dir, `l${i}`), i === 2 ? 'none' : 'gzip')));
const reference = umociUnpack(layout, 'rich', path.join(dir, 'umoci'));
const ignoreRoot = (rel: string, f: string) => rel === '/' && (f === 'mtime' || f === 'mode');

let store: Store;
test.before(async () => {
  store = await Store.open({ root: path.join(dir, 'store') });
  await store.import(`oci:${layout}:rich`, 'rich:1');
});
test.after(() => store.close());

test('export oci: read by skopeo and umoci (the same rootfs); imported back: the same digest', async () => {
  const out = path.join(dir, 'out-oci');
  const r = await store.export('rich:1', `oci:${out}:v1`);
  assert.is(r.digest, digest);
  assert.is(JSON.parse(sh('skopeo', ['inspect', `oci:${out}:v1`])).Digest, digest);
  const rootfs = umociUnpack(out, 'v1', path.join(dir, 'umoci-out'));
  assert.is(compareSnapshots(snapshotWithCaps(reference), snapshotWithCaps(rootfs), ignoreRoot), '');
  // a second tag in the same layout keeps the first
  await store.export('rich:1', `oci:${out}:v2`);
  assert.is(JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8')).manifests.length, 2);
  const s2 = await Store.open({ root: path.join(dir, 'store2') });
  assert.is((await s2.import(`oci:${out}:v1`)).digest, digest);
  s2.close();
});

test('export oci-archive: skopeo copies it; imported back: the same digest', async () => {
  const file = path.join(dir, 'out.oci.tar');
  await store.export('rich:1', `oci-archive:${file}:arch`);
  const out = path.join(dir, 'from-archive');
  sh('skopeo', ['copy', '-q', `oci-archive:${file}:arch`, `oci:${out}:x`]);
  assert.is(compareSnapshots(snapshotWithCaps(reference), snapshotWithCaps(umociUnpack(out, 'x', path.join(dir, 'umoci-arch'))), ignoreRoot), '');
  const s2 = await Store.open({ root: path.join(dir, 'store3') });
  assert.is((await s2.import(`oci-archive:${file}:arch`)).digest, digest);
  s2.close();
});

test('export docker-archive: podman load and skopeo read it; imported back: the same layers', async () => {
  const file = path.join(dir, 'out.docker.tar');
  await store.export('rich:1', `docker-archive:${file}`);
  const info = JSON.parse(sh('skopeo', ['inspect', `docker-archive:${file}`]));
  assert.equal(info.Layers, store.image('rich:1').layers.map((l) => l.diffID));
  const proot = path.join(dir, 'podman');
  const podman = (...a: string[]) => sh('podman', ['--root', `${proot}/root`, '--runroot', `${proot}/run`, '--storage-driver', 'vfs', '--events-backend', 'none', ...a]);
  try {
    assert.match(podman('load', '-q', '-i', file), /rich:1/);
    assert.match(podman('images', '--format', '{{.Repository}}:{{.Tag}}'), /localhost\/rich:1|rich:1/);
  } finally {
    try {
      podman('system', 'reset', '-f');
    } catch {
      /* best effort */
    }
  }
  const s2 = await Store.open({ root: path.join(dir, 'store4') });
  const back = await s2.import(`docker-archive:${file}`, 'back');
  assert.equal(back.layers.map((l) => l.diffID), store.image('rich:1').layers.map((l) => l.diffID));
  s2.close();
});

test('an index: the host platform by default, another on request, a clear error when missing', async () => {
  const idx = path.join(dir, 'multi');
  fs.cpSync(layout, idx, { recursive: true });
  const top = JSON.parse(fs.readFileSync(path.join(idx, 'index.json'), 'utf8')).manifests[0];
  // a second "platform": the same layers under another config
  const m = JSON.parse(fs.readFileSync(path.join(idx, 'blobs/sha256', top.digest.slice(7)), 'utf8'));
  const cfg = JSON.parse(fs.readFileSync(path.join(idx, 'blobs/sha256', m.config.digest.slice(7)), 'utf8'));
  const put = (b: Buffer) => {
    fs.writeFileSync(path.join(idx, 'blobs/sha256', sha256(b).slice(7)), b);
    return { digest: sha256(b), size: b.length };
  };
  const armCfg = put(Buffer.from(JSON.stringify({ ...cfg, architecture: 'arm64', variant: 'v8' })));
  const arm = put(Buffer.from(JSON.stringify({ ...m, config: { ...m.config, ...armCfg } })));
  const host = hostPlatform();
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: top.digest, size: top.size, platform: { os: host.os, architecture: host.architecture } },
    ],
  };
  const ib = put(Buffer.from(JSON.stringify(index)));
  fs.writeFileSync(path.join(idx, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...ib, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
  const s2 = await Store.open({ root: path.join(dir, 'store5') });
  assert.is((await s2.import(`oci:${idx}:multi`, 'm:host')).digest, top.digest);
  const a = await s2.import(`oci:${idx}:multi`, 'm:arm', { platform: { os: 'linux', architecture: 'arm64' } });
  assert.is(a.digest, arm.digest);
  assert.is(s2.config(a).architecture, 'arm64');
  await rejects(() => s2.import(`oci:${idx}:multi`, 'm:s390', { platform: { os: 'linux', architecture: 's390x' } }), /no image for linux\/s390x \(the index has: linux\/arm64\/v8, linux\/amd64\)/);
  // the copy itself is generic: oci: to oci: with no store at all
  const src = await openSource(`oci:${idx}:multi`);
  const { OciLayoutDestination } = await import('../../lib/image/transports/oci-layout');
  const events: string[] = [];
  const r = await copyImage(src, new OciLayoutDestination('oci:x', path.join(dir, 'plain-copy'), 'p'), { onProgress: (p) => events.push(p.state), concurrency: 2 });
  assert.is(r.digest, top.digest);
  assert.ok(events.includes('waiting') && events.includes('done'));
  s2.close();
});

test.run();
