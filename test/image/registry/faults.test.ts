/**
 * Faults injected by a proxy between layerfs and a real registry: a connection cut in the middle of
 * a blob (resumed with Range), 500 and 429 answers (retried, Retry-After honoured), a corrupted byte
 * (a one-line digest error, the store as it was), a registry that keeps failing (gives up).
 */
import { test } from 'uvu';
import { testIf } from '../../helpers/skip';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../../lib/image/store/store';
import { pullImage } from '../../../lib/image/registry/pull';
import { registryMissing, startRegistry, TestRegistry } from '../../helpers/registry';
import { FaultProxy, startFaultProxy } from '../../helpers/fault-proxy';
import { buildLayout, layoutBlob, layoutDescriptor, skopeoPush } from '../../helpers/ref-images';

const can = registryMissing === null;
const t = testIf(test, registryMissing);

let work = '';
let reg: TestRegistry;
let proxy: FaultProxy;
let L = '';
let digest = '';
let big = ''; // the first layer (1.5 MB of incompressible data)
let config = '';
const fast = { retryBaseMs: 20, retryMaxMs: 200 };

// set-up only where the tests run (they are skipped, and counted, without a registry)
if (can) test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-faults-'));
  reg = await startRegistry('none');
  proxy = await startFaultProxy(reg.host);
  L = buildLayout(work);
  digest = await skopeoPush(L, 'v2', reg.host, 'test/f:v2', { workdir: work });
  const m = JSON.parse(layoutBlob(L, layoutDescriptor(L, 'v2').digest).toString());
  big = m.layers[0].digest;
  config = m.config.digest;
});

test.after(async () => {
  await proxy?.close();
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

if (can) test.before.each(() => {
  proxy.rule = undefined;
  proxy.log = [];
});

async function freshStore(): Promise<Store> {
  return Store.open({ root: fs.mkdtempSync(path.join(work, 'store-')) });
}

/** What a failed pull must leave: no image, no unverified blob, nothing in tmp/. */
function assertUntouched(store: Store): void {
  assert.equal(store.images(), []);
  assert.equal(fs.readdirSync(path.join(store.root, 'tmp')), []);
  for (const f of fs.readdirSync(path.join(store.root, 'blobs', 'sha256'))) {
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    const h = createHash('sha256').update(fs.readFileSync(path.join(store.root, 'blobs', 'sha256', f))).digest('hex');
    assert.is(h, f, 'every blob kept is verified');
  }
}

t('a connection cut in the middle of a blob: resumed with Range from where it stopped', async () => {
  let cuts = 0;
  proxy.rule = (r) => (r.method === 'GET' && r.path.endsWith(big) && !r.headers.range && cuts++ === 0 ? { kind: 'cut', after: 400_000 } : undefined);
  const store = await freshStore();
  const r = await pullImage(store, `${proxy.host}/test/f:v2`, fast);
  assert.is(r.digest, digest);
  const ranged = proxy.log.filter((l) => l.includes(big) && l.includes('[bytes='));
  assert.is(ranged.length, 1, proxy.log.join('\n'));
  assert.match(ranged[0]!, /\[bytes=\d+-\] -> 206/);
  const from = Number(/bytes=(\d+)-/.exec(ranged[0]!)![1]);
  assert.ok(from > 0 && from <= 400_000, `resumed from ${from}`);
  store.close();
});

t('500 answers are retried; 429 waits for Retry-After', async () => {
  let manifest500 = 0;
  let blob429 = 0;
  proxy.rule = (r) => {
    if (r.path.includes('/manifests/') && manifest500++ < 2) return { kind: 'status', status: 500 };
    if (r.path.endsWith(config) && r.method === 'GET' && blob429++ === 0) return { kind: 'status', status: 429, retryAfter: 1 };
    return undefined;
  };
  const store = await freshStore();
  const t0 = Date.now();
  const r = await pullImage(store, `${proxy.host}/test/f:v2`, fast);
  assert.is(r.digest, digest);
  assert.ok(Date.now() - t0 >= 1000, 'waited the second Retry-After asked for');
  assert.is(proxy.log.filter((l) => l.includes('-> 500 (injected)')).length, 2);
  assert.is(proxy.log.filter((l) => l.includes('-> 429 (injected)')).length, 1);
  store.close();
});

t('a corrupted byte in a layer: one-line digest error, the store as it was', async () => {
  proxy.rule = (r) => (r.method === 'GET' && r.path.endsWith(big) ? { kind: 'corrupt', at: 1_000_000 } : undefined);
  const store = await freshStore();
  try {
    await pullImage(store, `${proxy.host}/test/f:v2`, fast);
    assert.unreachable('the layer is corrupted');
  } catch (err) {
    const msg = (err as Error).message;
    assert.match(msg, /digest mismatch|corrupt/i, msg);
    assert.not.match(msg, /\n/);
  }
  assertUntouched(store);
  store.close();
});

t('a corrupted byte in the config: digest mismatch, the store as it was', async () => {
  proxy.rule = (r) => (r.method === 'GET' && r.path.endsWith(config) ? { kind: 'corrupt', at: 10 } : undefined);
  const store = await freshStore();
  try {
    await pullImage(store, `${proxy.host}/test/f:v2`, fast);
    assert.unreachable('the config is corrupted');
  } catch (err) {
    assert.match((err as Error).message, /digest mismatch/);
  }
  assertUntouched(store);
  store.close();
});

t('a registry that keeps failing: gives up after the retries with a one-line error', async () => {
  proxy.rule = (r) => (r.path.endsWith(big) ? { kind: 'status', status: 503 } : undefined);
  const store = await freshStore();
  try {
    await pullImage(store, `${proxy.host}/test/f:v2`, { ...fast, retries: 2 });
    assert.unreachable('503 forever');
  } catch (err) {
    assert.match((err as Error).message, /failed \(503\) on blob sha256:/);
  }
  assert.is(proxy.log.filter((l) => l.includes(big)).length, 3, `first try and two retries: ${proxy.log.join(', ')}`);
  assertUntouched(store);
  store.close();
});

t('cut connections again and again with progress each time: still completes', async () => {
  proxy.rule = (r) => (r.method === 'GET' && r.path.endsWith(big) ? { kind: 'cut', after: 200_000 } : undefined);
  const store = await freshStore();
  const r = await pullImage(store, `${proxy.host}/test/f:v2`, fast);
  assert.is(r.digest, digest);
  assert.ok(proxy.log.filter((l) => l.includes(big)).length >= 7, 'about 1.5 MB in 200 kB pieces');
  store.close();
});

test.run();
