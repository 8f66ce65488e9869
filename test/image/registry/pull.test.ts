/**
 * Pull against a real registry (Debian's docker-registry) with images skopeo pushed: by tag and by
 * digest, gzip and zstd layers, an index with two platforms; the merged rootfs of the pulled layers
 * equals `umoci unpack` of the same image; a second image sharing the base downloads only its new
 * layers (bytes counted by a proxy in between); errors are one line each.
 */
import { test } from 'uvu';
import { testIf } from '../../helpers/skip';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../../lib/image/store/store';
import { pullImage } from '../../../lib/image/registry/pull';
import { DockerSource } from '../../../lib/image/registry/source';
import { registryMissing, startRegistry, TestRegistry } from '../../helpers/registry';
import { startFaultProxy, FaultProxy } from '../../helpers/fault-proxy';
import { buildLayout, layoutBlob, layoutDescriptor, putIndex, skopeoPush, umociUnpackFromRegistry } from '../../helpers/ref-images';
import { mergedView, rootfsView, diffViews } from './views';

const can = registryMissing === null;
const t = testIf(test, registryMissing);

let work = '';
let reg: TestRegistry;
let proxy: FaultProxy;
let L = '';
const digests: Record<string, string> = {};

// set-up only where the tests run (they are skipped, and counted, without a registry)
if (can) test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-pull-'));
  reg = await startRegistry('none');
  proxy = await startFaultProxy(reg.host);
  L = buildLayout(work);
  digests.gzip = await skopeoPush(L, 'v2', reg.host, 'test/multi:gzip', { workdir: work });
  digests.zstd = await skopeoPush(L, 'v2-zstd', reg.host, 'test/multi:zstd', { workdir: work });
  digests.v3 = await skopeoPush(L, 'v3', reg.host, 'test/multi:v3', { workdir: work });
  digests.arm64 = await skopeoPush(L, 'v2-arm64', reg.host, 'test/multi:arm64', { workdir: work });
  digests.index = await putIndex(reg.host, 'test/multi', 'index', [
    { digest: digests.gzip, platform: { os: 'linux', architecture: 'amd64' } },
    { digest: digests.arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
});

test.after(async () => {
  await proxy?.close();
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function freshStore(): Promise<Store> {
  return Store.open({ root: fs.mkdtempSync(path.join(work, 'store-')) });
}

t('pull by tag (gzip): the image is tagged, its blobs are the pushed ones, its rootfs equals umoci unpack', async () => {
  const store = await freshStore();
  const r = await pullImage(store, `${reg.host}/test/multi:gzip`);
  assert.is(r.digest, digests.gzip);
  assert.is(r.tag, `${reg.host}/test/multi:gzip`);
  const img = store.image(`${reg.host}/test/multi:gzip`);
  assert.is(img.digest, digests.gzip);
  assert.is(img.layers.length, 2);
  const m = JSON.parse(layoutBlob(L, layoutDescriptor(L, 'v2').digest).toString());
  assert.equal(img.layers.map((l) => l.blob.digest), m.layers.map((l: { digest: string }) => l.digest), 'skopeo pushed the layout blobs unchanged');
  const peer = rootfsView(await umociUnpackFromRegistry(`${reg.host}/test/multi:gzip`, work));
  const ours = mergedView(img.layers.map((l) => store.layerDir(l.diffID)).reverse());
  assert.equal(diffViews(peer, ours), []);
  assert.ok(ours['/opt/app/data'] && !ours['/gone'], 'the second layer applied, its whiteout too');
  store.close();
});

t('pull by digest (zstd layers): rootfs equals umoci unpack; no tag recorded', async () => {
  const store = await freshStore();
  const r = await pullImage(store, `docker://${reg.host}/test/multi@${digests.zstd}`);
  assert.is(r.digest, digests.zstd);
  assert.is(r.tag, undefined);
  const img = store.image(digests.zstd);
  assert.equal(img.tags, []);
  assert.ok(img.layers.every((l) => l.blob.mediaType.endsWith('+zstd')), 'layers are zstd');
  // umoci 0.4 reads no zstd: its unpack of the gzip image, whose uncompressed layers are the same tars
  const gz = (await (async () => {
    const s2 = await freshStore();
    await pullImage(s2, `${reg.host}/test/multi:gzip`);
    return s2.image(digests.gzip);
  })());
  assert.equal(img.layers.map((l) => l.diffID), gz.layers.map((l) => l.diffID), 'same diffIDs as the gzip image');
  const peer = rootfsView(await umociUnpackFromRegistry(`${reg.host}/test/multi:gzip`, work));
  const ours = mergedView(img.layers.map((l) => store.layerDir(l.diffID)).reverse());
  assert.equal(diffViews(peer, ours), []);
  store.close();
});

t('an index: this machine platform by default, another with platform, an absent one is a clear error', async () => {
  const store = await freshStore();
  const amd = await pullImage(store, `${reg.host}/test/multi:index`, { platform: { os: 'linux', architecture: 'amd64' } });
  assert.is(amd.digest, digests.gzip);
  const arm = await pullImage(store, `${reg.host}/test/multi:index`, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.is(arm.digest, digests.arm64);
  assert.is(arm.copied, 1, 'only the arm64 config is new: the layers are shared');
  assert.is(arm.skipped, 2);
  try {
    await pullImage(store, `${reg.host}/test/multi:index`, { platform: { os: 'linux', architecture: 's390x' } });
    assert.unreachable('s390x is not in the index');
  } catch (err) {
    assert.match((err as Error).message, /linux\/s390x/);
    assert.match((err as Error).message, /linux\/amd64, linux\/arm64\/v8/);
  }
  store.close();
});

t('a second image sharing the base downloads only its new layer (bytes the registry served)', async () => {
  const store = await freshStore();
  await pullImage(store, `${proxy.host}/test/multi:gzip`);
  const first = proxy.blobBytes;
  const r = await pullImage(store, `${proxy.host}/test/multi:v3`);
  const served = proxy.blobBytes - first;
  const m3 = JSON.parse(layoutBlob(L, layoutDescriptor(L, 'v3').digest).toString());
  const expected = m3.config.size + m3.layers[1].size;
  assert.is(served, expected, `served ${served}, the new config and layer are ${expected}`);
  assert.is(r.skipped, 1);
  assert.is(r.copied, 2);
  store.close();
});

t('errors: name unknown, manifest unknown, unreachable; one line each', async () => {
  const store = await freshStore();
  const cases: [string, string, RegExp][] = [
    [`${reg.host}/test/nothere:latest`, 'NAME_UNKNOWN', /name unknown: .*test\/nothere/],
    [`${reg.host}/test/multi:nosuchtag`, 'MANIFEST_UNKNOWN', /manifest unknown: manifest nosuchtag/],
    ['127.0.0.1:1/test/x:y', 'UNREACHABLE', /registry 127\.0\.0\.1:1 unreachable/],
  ];
  for (const [ref, code, re] of cases) {
    try {
      await pullImage(store, ref, { retries: 0 });
      assert.unreachable(ref);
    } catch (err) {
      assert.is((err as { code: string }).code, code, `${ref}: ${(err as Error).message}`);
      assert.match((err as Error).message, re);
      assert.not.match((err as Error).message, /\n/);
    }
  }
  assert.equal(store.images(), []);
  store.close();
});

t('a manifest asked by digest is verified; Accept gets OCI and Docker types', async () => {
  const src = new DockerSource(`${reg.host}/test/multi:index`);
  const idx = await src.getManifest();
  assert.is(idx.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.is(src.resolvedDigest, digests.index);
  const m = await src.getManifest(digests.arm64);
  assert.is(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  await src.close();
});

test.run();
