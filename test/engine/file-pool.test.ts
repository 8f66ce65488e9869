import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { Overlay } from '../../lib/engine';
import { FilePool } from '../../lib/engine/file-pool';
import { makeLayerSet, tempDir, removeTree } from '../helpers/layers';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** The pool's files in work/work: name -> inode. */
function pooled(work: string): Map<string, number> {
  const dir = path.join(work, 'work');
  return new Map(fs.readdirSync(dir).map((n) => [n, fs.lstatSync(path.join(dir, n)).ino]));
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await sleep(5);
  assert.ok(ok(), what);
}

test('a create takes a file made ahead: its inode, the asked mode and owner, the current times', async () => {
  const set = makeLayerSet([{ 'd/old': { type: 'file', content: 'lower' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    assert.equal([...pooled(set.work).keys()], [], 'no pool before the first create');
    // A mount that creates a file or two (a container start) has no pool: the fourth create starts it.
    for (const name of ['/first', '/second', '/third']) (await ov.create(name, 0o644)).close();
    await sleep(50);
    assert.equal([...pooled(set.work).keys()], [], 'no pool after three creates');
    (await ov.create('/fourth', 0o644)).close(); // made directly; starts the pool
    assert.is(ov.stats.pooledCreates, 0);
    await waitFor('the pool filled', () => pooled(set.work).size === 32);
    const before = pooled(set.work);
    await sleep(60); // pool files are now visibly older than a new file must be
    const t = Date.now();
    const h = await ov.create('/d/new', 0o751, sys.O.RDWR, { uid: 1234, gid: 5678 });
    await h.write(Buffer.from('fresh'), 0, 5, 0);
    h.close();
    assert.is(ov.stats.pooledCreates, 1);
    const after = pooled(set.work);
    assert.is(after.size, 31, 'one file taken, no refill yet');
    const st = fs.lstatSync(path.join(set.upper, 'd/new'));
    const taken = [...before].filter(([name]) => !after.has(name));
    assert.is(taken.length, 1);
    assert.is(st.ino, taken[0][1], 'the new file is the pooled inode');
    assert.is(st.mode & 0o7777, 0o751);
    assert.is(st.uid, 1234);
    assert.is(st.gid, 5678);
    for (const [k, v] of [['mtime', st.mtimeMs], ['atime', st.atimeMs], ['ctime', st.ctimeMs]] as const) {
      assert.ok(v >= t - 10, `${k} is the create's (${v - t} ms from it)`);
    }
    assert.is(ov.readFile('/d/new').toString(), 'fresh');
    const attr = ov.getattr('/d/new');
    assert.is(attr.mode & 0o7777, 0o751);
    assert.is(attr.uid, 1234);
    // O_APPEND creates keep their own open flags: made directly.
    (await ov.create('/appended', 0o600, sys.O.WRONLY | sys.O.APPEND)).close();
    assert.is(ov.stats.pooledCreates, 1);
    // EEXIST as before.
    await ov.create('/d/new', 0o644).then(() => assert.unreachable('created twice'), (e) => assert.is(e.code, 'EEXIST'));
    // Taking down to half refills.
    for (let i = 0; i < 16; i++) (await ov.create(`/many${i}`, 0o644)).close();
    assert.is(ov.stats.pooledCreates, 17);
    await waitFor('refilled', () => pooled(set.work).size === 31); // 32 made, the 16th create took one
  } finally {
    ov.close();
  }
  assert.equal([...pooled(set.work).keys()], [], 'close removes the pool');
  assert.equal(fs.readdirSync(set.upper).sort(), ['appended', 'd', 'first', 'second', 'third', 'fourth', ...Array.from({ length: 16 }, (_, i) => `many${i}`)].sort());
  set.remove();
});

test('FilePool: a fill that makes nothing stops the pool; a fill that ends after close removes its files', async () => {
  const base = tempDir();
  try {
    // A directory that was removed: every create in it fails (ENOENT).
    fs.mkdirSync(path.join(base, 'gone'));
    const goneFd = sys.openat(sys.AT.FDCWD, path.join(base, 'gone'), sys.O.PATH | sys.O.DIRECTORY);
    fs.rmdirSync(path.join(base, 'gone'));
    let names = 0;
    const dead = new FilePool(goneFd, () => `#t${names++}`, 8);
    sys.close(goneFd);
    for (let i = 0; i < 4; i++) assert.is(dead.take(), null); // the fourth starts a fill
    await dead.fill();
    assert.is(dead.ready, 0);
    const tried = names;
    await dead.fill();
    assert.is(names, tried, 'no second try once a fill made nothing');
    assert.is(dead.take(), null);
    dead.close();

    fs.mkdirSync(path.join(base, 'w'));
    const fd = sys.openat(sys.AT.FDCWD, path.join(base, 'w'), sys.O.PATH | sys.O.DIRECTORY);
    const pool = new FilePool(fd, () => `#p${names++}`, 8);
    sys.close(fd);
    const filling = pool.fill();
    pool.close();
    await filling;
    assert.equal(fs.readdirSync(path.join(base, 'w')), [], 'nothing left by a fill that ended after close');

    // A fill that made all its files, its completion not run yet (the event loop is held here):
    // close removes them before it returns (a process exiting next would never run the completion).
    const fd2 = sys.openat(sys.AT.FDCWD, path.join(base, 'w'), sys.O.PATH | sys.O.DIRECTORY);
    const pool2 = new FilePool(fd2, () => `#q${names++}`, 8);
    sys.close(fd2);
    const filling2 = pool2.fill();
    const hold = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 2000 && fs.readdirSync(path.join(base, 'w')).length < 8; i++) Atomics.wait(hold, 0, 0, 1);
    assert.is(fs.readdirSync(path.join(base, 'w')).length, 8, 'the fill made its files');
    pool2.close();
    assert.equal(fs.readdirSync(path.join(base, 'w')), [], 'close removed them');
    await filling2;
    assert.equal(fs.readdirSync(path.join(base, 'w')), []);
  } finally {
    removeTree(base);
  }
});

test.run();
