/** The store: references, tags, sharing (bytes on disk), rm/prune, verification, leftovers, concurrency. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseReference, formatReference, Store, ImageError } from '../../lib/image';
import { diskUsage } from '../../lib/image/store/fsutil';
import { rejects, sh, tarLayer, tmp, writeOciLayout } from './helpers';

const dir = tmp('store');
const w = (root: string, rel: string, data: string | Buffer) => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), data);
};
// base: two layers of ~1 MB each; app: the same two plus its own
for (const [l, n] of [['b1', 1], ['b2', 2], ['app', 3]] as const) w(path.join(dir, l), `data/${l}`, Buffer.alloc(1 << 20, n));
const b1 = tarLayer(path.join(dir, 'b1'), path.join(dir, 'b1'), 'gzip');
const b2 = tarLayer(path.join(dir, 'b2'), path.join(dir, 'b2'), 'gzip');
const app = tarLayer(path.join(dir, 'app'), path.join(dir, 'app'), 'gzip');
const layout = path.join(dir, 'layout');
const baseDigest = writeOciLayout(layout, 'base', [b1, b2]);
const appDigest = writeOciLayout(layout, 'app', [b1, b2, app]);

test('references: [HOST[:PORT]/]REPO[:TAG][@DIGEST]', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  assert.equal(parseReference('debian'), { host: undefined, repository: 'debian', tag: undefined, digest: undefined });
  assert.equal(parseReference('localhost:5000/a/b:1.0'), { host: 'localhost:5000', repository: 'a/b', tag: '1.0', digest: undefined });
  assert.equal(parseReference(`quay.io/x/y@${d}`), { host: 'quay.io', repository: 'x/y', tag: undefined, digest: d });
  assert.equal(parseReference(`x:t@${d}`).tag, 't');
  assert.is(formatReference(parseReference('reg.example.com:443/ns/app:v2')), 'reg.example.com:443/ns/app:v2');
  for (const bad of ['', 'UPPER', 'a//b', 'a:b:c', 'a@sha256:12', 'a:-tag', 'a/-b']) {
    assert.throws(() => parseReference(bad), (e: Error) => (e as ImageError).code === ('EINVALIDREF' as never), bad);
  }
});

test('a second image sharing base layers stores only its new layer (bytes on disk)', async () => {
  const store = await Store.open({ root: path.join(dir, 's1') });
  await store.import(`oci:${layout}:base`, 'base');
  const layersBefore = diskUsage(store.layout.layersDir);
  const blobsBefore = diskUsage(path.join(store.root, 'blobs'));
  const img = await store.import(`oci:${layout}:app`, 'app');
  assert.is(img.digest, appDigest);
  const grewLayers = diskUsage(store.layout.layersDir) - layersBefore;
  const grewBlobs = diskUsage(path.join(store.root, 'blobs')) - blobsBefore;
  // one new 1 MiB file extracted (plus its directories), the new layer's blob, a config, a manifest
  assert.ok(grewLayers >= 1 << 20 && grewLayers < (1 << 20) + 64 * 1024, `layers grew by ${grewLayers}`);
  assert.ok(grewBlobs < 64 * 1024, `blobs grew by ${grewBlobs}`);
  assert.is(fs.readdirSync(store.layout.layersDir).length, 3);
  const users = store.layerUsers();
  assert.equal(img.layers.map((l) => users.get(l.diffID)), [2, 2, 1]);
  const df = store.df();
  assert.ok(df.shared >= 2 << 20 && df.unique >= 1 << 20 && df.unique < 2 << 20, JSON.stringify(df));
  store.close();
});

test('tags move, digests stay; rm removes only what nothing else uses; prune', async () => {
  const store = await Store.open({ root: path.join(dir, 's1') });
  await store.tag('app', 'moving:x');
  assert.is(store.image('moving:x').digest, appDigest);
  await store.tag('base', 'moving:x');
  assert.is(store.image('moving:x').digest, baseDigest);
  assert.is(store.image(appDigest).digest, appDigest);
  assert.is(store.image(appDigest.slice(7, 19)).digest, appDigest);
  assert.throws(() => store.image('nothere'), /image "nothere" not found/);
  // a container keeps its image
  await store.createContainer('app', { name: 'keeper' });
  await rejects(() => store.rmi('app'), /used by container keeper/);
  await store.removeContainer('keeper');
  const r = await store.rmi('app');
  assert.equal(r.removed, [appDigest]);
  assert.is(fs.readdirSync(store.layout.layersDir).length, 2, 'the shared layers stay');
  assert.equal(store.check({ deep: true }), []);
  // untag only: base keeps moving:x, so removing base:latest leaves the image
  const r2 = await store.rmi('base');
  assert.equal(r2.removed, []);
  await store.rmi('moving:x');
  assert.is(store.images().length, 0);
  assert.is(fs.readdirSync(store.layout.layersDir).length, 0);
  assert.is(fs.readdirSync(store.layout.blobsDir).length, 0);
  // prune: a blob nobody references
  fs.writeFileSync(path.join(store.layout.blobsDir, 'f'.repeat(64)), 'stray');
  const p = await store.prune();
  assert.is(p.blobs, 1);
  store.close();
});

test('a blob that does not match its digest is refused, nothing kept', async () => {
  const bad = path.join(dir, 'bad');
  fs.cpSync(layout, bad, { recursive: true });
  const m = JSON.parse(fs.readFileSync(path.join(bad, 'blobs/sha256', baseDigest.slice(7)), 'utf8'));
  const victim = path.join(bad, 'blobs/sha256', m.layers[1].digest.slice(7));
  const bytes = fs.readFileSync(victim);
  bytes[bytes.length - 10] ^= 0xff;
  fs.writeFileSync(victim, bytes);
  const store = await Store.open({ root: path.join(dir, 's2') });
  await rejects(() => store.import(`oci:${bad}:base`, 'bad'), (e: Error) => /digest mismatch|unexpected end|invalid|incorrect|crc|check/i.test(e.message));
  assert.is(store.images().length, 0);
  assert.equal(fs.readdirSync(store.layout.tmpDir), [], 'no work area left');
  // the good first layer may stay (verified), the damaged one is nowhere
  assert.not.ok(fs.existsSync(path.join(store.layout.blobsDir, m.layers[1].digest.slice(7))));
  assert.ok(fs.readdirSync(store.layout.layersDir).length <= 1);
  store.close();
});

test('leftovers of a killed process are removed by the next open; live ones are not', async () => {
  const root = path.join(dir, 's3');
  const store = await Store.open({ root });
  const live = store.tempDir();
  fs.writeFileSync(path.join(live.path, 'x'), 'mine');
  // a work area whose owner died: a directory nobody holds a lock on
  fs.mkdirSync(path.join(store.layout.tmpDir, '999-dead'));
  fs.writeFileSync(path.join(store.layout.tmpDir, '999-dead', 'half'), 'half a layer');
  const other = await Store.open({ root });
  assert.equal(fs.readdirSync(store.layout.tmpDir), [path.basename(live.path)]);
  live.remove();
  other.close();
  store.close();
});

test('a work area killed before it was locked (.new-PID-...) goes at the next open once its pid is dead', async () => {
  const root = path.join(dir, 's3b');
  const store = await Store.open({ root });
  const exited = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((r) => exited.on('exit', () => r(exited.pid!)));
  const dead = `.new-${deadPid}-0123456789ab`;
  const mine = `.new-${process.pid}-0123456789ab`; // its creator is alive (and may lock it next)
  for (const n of [dead, mine]) fs.mkdirSync(path.join(store.layout.tmpDir, n));
  const other = await Store.open({ root });
  assert.equal(fs.readdirSync(store.layout.tmpDir), [mine]);
  fs.rmdirSync(path.join(store.layout.tmpDir, mine));
  other.close();
  store.close();
});

test('two concurrent imports of images sharing layers, in two processes', async () => {
  const root = path.join(dir, 's4');
  const script = (tag: string) => `require(${JSON.stringify(path.join(__dirname, '../../lib/image'))}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.import(${JSON.stringify(`oci:${layout}:${tag}`)}, ${JSON.stringify(tag)})).then(()=>process.exit(0),e=>{console.error(e.message);process.exit(1)})`;
  const runs = ['base', 'app', 'app'].map((tag) => new Promise<number>((resolve) => spawn(process.execPath, ['-e', script(tag)], { stdio: 'inherit' }).on('exit', (c) => resolve(c ?? 1))));
  assert.equal(await Promise.all(runs), [0, 0, 0]);
  const store = await Store.open({ root });
  assert.equal(store.images().map((i) => i.tags).sort(), [['app:latest'], ['base:latest']]);
  assert.is(fs.readdirSync(store.layout.layersDir).length, 3);
  assert.equal(store.check({ deep: true }), []);
  store.close();
});

test('tarball: a root filesystem tarball becomes a one-layer image', async () => {
  const store = await Store.open({ root: path.join(dir, 's5') });
  sh('tar', ['-czf', path.join(dir, 'rootfs.tgz'), '-C', path.join(dir, 'b1'), '.']);
  const img = await store.import(`tarball:${path.join(dir, 'rootfs.tgz')}`, 'rootfs');
  assert.is(img.layers.length, 1);
  assert.is(img.layers[0].blob.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const cfg = store.config(img);
  assert.is(cfg.os, 'linux');
  assert.equal(cfg.rootfs.diff_ids, [img.layers[0].diffID]);
  assert.ok(fs.readFileSync(path.join(store.layerDir(img.layers[0].diffID), 'data/b1')).equals(Buffer.alloc(1 << 20, 1)));
  store.close();
});

test.run();
