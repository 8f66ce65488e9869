/**
 * SIGKILL at random points of import (extraction included) and commit, in a loop: after each kill
 * the next command finds the store consistent (Store.check, every blob hashed), no work area
 * left, and works.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Store } from '../../lib/image';
import { tarLayer, tmp, writeOciLayout } from './helpers';

const dir = tmp('crash');
const root = path.join(dir, 'store');
const LIB = JSON.stringify(path.join(__dirname, '../../lib/image'));
const ROUNDS = Number(process.env.LAYERFS_CRASH_ROUNDS ?? 8);

// three layers: many small files, a big file, a few changes
const src = path.join(dir, 'src');
for (let i = 0; i < 1500; i++) {
  const p = path.join(src, 'a', `d${i % 30}`, `f${i}`);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `file ${i}\n`.repeat(i % 50));
}
fs.mkdirSync(path.join(src, 'b', 'big'), { recursive: true });
fs.writeFileSync(path.join(src, 'b', 'big', 'blob'), Buffer.alloc(24 << 20, 7));
fs.mkdirSync(path.join(src, 'c', 'etc'), { recursive: true });
fs.writeFileSync(path.join(src, 'c', 'etc', 'conf'), 'x');
const layout = path.join(dir, 'layout');
writeOciLayout(layout, 'big', ['a', 'b', 'c'].map((l) => tarLayer(path.join(src, l), path.join(dir, l), 'gzip')));

function child(code: string): { done: Promise<number | null>; kill: () => void } {
  const p = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { done: new Promise((r) => p.on('exit', (c) => r(c))), kill: () => p.kill('SIGKILL') };
}

async function consistent(round: string): Promise<Store> {
  const store = await Store.open({ root }); // removes leftovers
  assert.equal(fs.readdirSync(store.layout.tmpDir), [], `${round}: work areas left`);
  assert.equal(store.check({ deep: true }), [], `${round}: inconsistent`);
  return store;
}

test('SIGKILL during import and extraction, in a loop', async () => {
  let killed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const c = child(`require(${LIB}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.import(${JSON.stringify(`oci:${layout}:big`)},'big:${i}'))`);
    const delay = 50 + Math.floor(Math.random() * 1200);
    const t = setTimeout(() => {
      killed++;
      c.kill();
    }, delay);
    await c.done;
    clearTimeout(t);
    const store = await consistent(`import round ${i} (kill after ${delay} ms)`);
    // start over half the time, so extraction is killed again and again
    if (i % 2 === 0) for (const img of store.images()) for (const tag of img.tags) await store.rmi(tag);
    await store.prune();
    store.close();
  }
  assert.ok(killed > 0, 'no round was killed');
  const store = await consistent('after the loop');
  const img = await store.import(`oci:${layout}:big`, 'big:final');
  assert.ok(fs.statSync(path.join(store.layerDir(img.layers[1].diffID), 'big/blob')).size === 24 << 20);
  assert.equal(store.check({ deep: true }), []);
  store.close();
});

test('SIGKILL during commit, in a loop', async () => {
  const store = await Store.open({ root });
  const c = await store.createContainer('big:final', { name: 'victim' });
  // a change to commit: files written straight into the upper (as a mount would leave them)
  fs.mkdirSync(path.join(c.upper, 'new'), { recursive: true });
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(c.upper, 'new', `f${i}`), Buffer.alloc(20_000, i));
  store.close();
  for (let i = 0; i < Math.max(3, ROUNDS / 2); i++) {
    const k = child(`require(${LIB}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.container('victim').commit('committed:${i}'))`);
    const delay = 20 + Math.floor(Math.random() * 600);
    const t = setTimeout(() => k.kill(), delay);
    await k.done;
    clearTimeout(t);
    (await consistent(`commit round ${i} (kill after ${delay} ms)`)).close();
  }
  const s = await consistent('after the commit loop');
  const img = await s.container('victim').commit('committed:final');
  assert.is(img.layers.length, 4);
  s.close();
});

test('two concurrent commits and an import on one store, in three processes', async () => {
  const store = await Store.open({ root });
  for (const n of ['k1', 'k2']) {
    const c = await store.createContainer('big:final', { name: n });
    fs.mkdirSync(path.join(c.upper, n), { recursive: true });
    for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(c.upper, n, `f${i}`), Buffer.alloc(10_000, i));
  }
  store.close();
  const runs = [
    child(`require(${LIB}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.container('k1').commit('k:1')).then(()=>process.exit(0),e=>{console.error(e);process.exit(1)})`),
    child(`require(${LIB}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.container('k2').commit('k:2')).then(()=>process.exit(0),e=>{console.error(e);process.exit(1)})`),
    child(`require(${LIB}).Store.open({root:${JSON.stringify(root)}}).then(s=>s.import(${JSON.stringify(`oci:${layout}:big`)},'big:again')).then(()=>process.exit(0),e=>{console.error(e);process.exit(1)})`),
  ];
  assert.equal(await Promise.all(runs.map((r) => r.done)), [0, 0, 0]);
  const s = await consistent('after concurrent commits');
  const k1 = s.image('k:1');
  const k2 = s.image('k:2');
  assert.is.not(k1.digest, k2.digest);
  assert.equal(k1.layers.slice(0, 3), k2.layers.slice(0, 3));
  assert.ok(fs.existsSync(path.join(s.layerDir(k1.layers[3].diffID), 'k1/f199')));
  assert.ok(fs.existsSync(path.join(s.layerDir(k2.layers[3].diffID), 'k2/f199')));
  s.close();
});

test.run();
