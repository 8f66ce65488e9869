/**
 * Push against a real registry: a committed container image, read back by skopeo + umoci equal to
 * the container's merged view; only missing blobs uploaded (HEAD first); cross-repository mounts;
 * chunked uploads; by digest.
 */
import { test } from 'uvu';
import { testIf } from '../../helpers/skip';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../../lib/image/store/store';
import { createContainer } from '../../../lib/image/container';
import { pullImage, pushImage } from '../../../lib/image/registry/pull';
import '../../../lib/image/registry';
import { registryMissing, startRegistry, TestRegistry } from '../../helpers/registry';
import { buildLayout, skopeoPush, skopeoRaw, umociUnpackFromRegistry } from '../../helpers/ref-images';
import { diffViews, mergedView, rootfsView } from './views';

const can = registryMissing === null;
const t = testIf(test, registryMissing);

let work = '';
let reg: TestRegistry;
let store: Store;
let committed = '';
let upperView: ReturnType<typeof mergedView>;

// set-up only where the tests run (they are skipped, and counted, without a registry)
if (can) test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-push-'));
  reg = await startRegistry('none');
  const L = buildLayout(work);
  await skopeoPush(L, 'v2', reg.host, 'test/base:v2', { workdir: work });
  store = await Store.open({ root: path.join(work, 'store') });
  await pullImage(store, `${reg.host}/test/base:v2`);
  // a container changed in its upper directory (overlay format: a whiteout is a 0/0 device), then committed
  const c = await createContainer(store, `${reg.host}/test/base:v2`, { name: 'pushme' });
  fs.mkdirSync(path.join(c.upper, 'etc'));
  fs.writeFileSync(path.join(c.upper, 'etc/hello'), 'hello from the container\n');
  fs.writeFileSync(path.join(c.upper, 'new-file'), 'new\n', { mode: 0o640 });
  execFileSync('mknod', [path.join(c.upper, 'big'), 'c', '0', '0']);
  upperView = mergedView([c.upper, ...c.lowerDirs()]);
  const img = await c.commit('committed:1');
  committed = img.digest;
});

test.after(async () => {
  store?.close();
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

t('push a committed image: skopeo + umoci read back the container merged view; the digest printed is the manifest one', async () => {
  const how: string[] = [];
  const r = await pushImage(store, 'committed:1', `docker://${reg.host}/test/pushed:c1`, { onBlob: (_d, h) => how.push(h) });
  assert.is(r.digest, committed, 'the stored manifest is pushed as it is');
  assert.ok(how.includes('uploaded'));
  const raw = await skopeoRaw(`${reg.host}/test/pushed:c1`);
  assert.is(`sha256:${require('node:crypto').createHash('sha256').update(raw).digest('hex')}`, committed);
  const peer = rootfsView(await umociUnpackFromRegistry(`${reg.host}/test/pushed:c1`, work));
  assert.equal(diffViews(peer, upperView), []);
  assert.not.ok(peer['/big'], 'the whiteout went through');
});

t('a second push uploads nothing (HEAD first)', async () => {
  const how: string[] = [];
  const r = await pushImage(store, committed, `${reg.host}/test/pushed:again`, { onBlob: (_d, h) => how.push(h) });
  assert.is(r.digest, committed);
  assert.is(r.copied, 0);
  assert.ok(how.length > 0 && how.every((h) => h === 'present'), how.join());
});

t('to another repository of the same registry: blobs mounted, not uploaded', async () => {
  const how: string[] = [];
  const r = await pushImage(store, committed, `${reg.host}/test/elsewhere:x`, { onBlob: (_d, h) => how.push(h) });
  assert.is(r.digest, committed);
  assert.ok(how.length === 4 && how.every((h) => h === 'mounted'), how.join());
  assert.is((await skopeoRaw(`${reg.host}/test/elsewhere:x`)).length > 0, true);
});

t('chunked upload (PATCH pieces) and push by digest', async () => {
  const fresh = await Store.open({ root: path.join(work, 'store2') });
  await pullImage(fresh, `${reg.host}/test/base:v2`);
  const how: string[] = [];
  const r = await pushImage(fresh, `${reg.host}/test/base:v2`, `${reg.host}/test/chunked@${(fresh.image(`${reg.host}/test/base:v2`)).digest}`, {
    chunkSize: 256 * 1024,
    onBlob: (_d, h) => how.push(h),
  });
  assert.ok(how.includes('uploaded') || how.includes('mounted'));
  assert.is(r.digest, fresh.image(`${reg.host}/test/base:v2`).digest);
  const peer = rootfsView(await umociUnpackFromRegistry(`${reg.host}/test/chunked@${r.digest}`, work));
  const view = mergedView(fresh.image(r.digest).layers.map((l) => fresh.layerDir(l.diffID)).reverse());
  assert.equal(diffViews(peer, view), []);
  fresh.close();
});

t('push errors are one line: unknown image, unreachable registry', async () => {
  try {
    await pushImage(store, 'nosuch:image', `${reg.host}/test/x:y`);
    assert.unreachable('no image');
  } catch (err) {
    assert.match((err as Error).message, /not found/);
  }
  try {
    await pushImage(store, committed, '127.0.0.1:1/test/x:y', { retries: 0 });
    assert.unreachable('unreachable');
  } catch (err) {
    assert.match((err as Error).message, /^registry 127\.0\.0\.1:1 unreachable/);
  }
});

test.run();
