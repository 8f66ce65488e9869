/**
 * mount() never makes a mount that waits on itself (issue 17, item 2), and one upper and work
 * directory serve one live user (item 3): a second mount() or engine Overlay.open is refused with a
 * ConfigError naming the first; a SIGKILLed holder leaves no stale lock.
 *
 * What could hang runs in a child with a deadline that aborts the FUSE connections of this test's
 * mounts (test/helpers/bounded.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mount } from '../../lib/mount';
import { Overlay } from '../../lib/engine';
import { LayerSet, makeLayerSet, removeTree, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, withLayerfs } from '../helpers/layerfs-mount';
import { fuseMountsUnder, releaseMountsUnder, runBounded } from '../helpers/bounded';

const LABEL = 'layerfs-mguard-';
const LIB = path.resolve(__dirname, '../../lib');

/** This run's directories (another run of this file may be under way on the machine). */
const bases: string[] = [];

function sample(): LayerSet {
  const set = makeLayerSet([{ 'sub/f': { type: 'file', content: 'lower' }, 'etc/base': { type: 'file', content: 'base' } }], undefined, tempDir(LABEL));
  fs.mkdirSync(path.join(set.upper, 'usub'));
  fs.symlinkSync(set.lower[0], path.join(set.base, 'link'));
  bases.push(set.base);
  return set;
}

/**
 * A child that tries each mount in `attempts` in order, keeping those made (a later one may stack
 * on an earlier one), lists every mount made and the directory it sits in (a mount waiting on
 * itself hangs there), and prints one JSON result per attempt.
 */
async function inChild(set: LayerSet, attempts: Record<string, unknown>[]) {
  const program = `const fs = require('fs'); const path = require('path');
    const { mount } = require(${JSON.stringify(LIB)});
    (async () => {
      const results = [], made = [];
      for (const opts of ${JSON.stringify(attempts)}) {
        try {
          const m = await mount(opts);
          made.push(m);
          for (const d of [path.dirname(m.mountpoint), m.mountpoint]) for (const n of fs.readdirSync(d)) fs.lstatSync(path.join(d, n));
          results.push({ mounted: true });
        } catch (e) {
          results.push({ name: e.name, code: e.code, option: e.option, message: e.message });
        }
      }
      for (const m of made.reverse()) await m.unmount();
      console.log(JSON.stringify(results));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = await runBounded(process.execPath, ['-e', program], { under: set.base, ms: 30_000 });
  releaseMountsUnder(set.base);
  assert.not.ok(r.hung, `the child hung on a mount waiting on itself (aborted): ${r.stderr}`);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { mounted?: true; name?: string; code?: string; option?: string; message?: string }[];
}

test('a mountpoint in a lower (also through a bind mount), in the upper, over a layer, or through a symlink is refused before mounting', async () => {
  const set = sample();
  const l = set.lower[0];
  const covered = path.join(set.base, 'over', 'layer');
  fs.mkdirSync(covered, { recursive: true });
  const rw = { upper: set.upper, work: set.work };
  // The lower's root seen at another path through a bind mount: the same directory (device, inode).
  const bind = path.join(set.base, 'bind');
  fs.mkdirSync(bind);
  execFileSync('mount', ['--bind', l, bind]);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ lower: [l], ...rw, mountpoint: path.join(bind, 'sub') }, /^mountpoint \S+\/bind\/sub is inside lower\[0\] \S+\/l0: /],
    [{ lower: [l], ...rw, mountpoint: path.join(l, 'sub') }, /^mountpoint \S+\/l0\/sub is inside lower\[0\] \S+\/l0: the server would wait on its own mount/],
    [{ lower: [l], ...rw, mountpoint: path.join(set.upper, 'usub') }, /^mountpoint \S+\/upper\/usub is inside upper /],
    [{ lower: [l], mountpoint: l }, /^mountpoint \S+\/l0 is lower\[0\] /],
    [{ lower: [covered], ...rw, mountpoint: path.join(set.base, 'over') }, /^mountpoint \S+\/over would cover lower\[0\] /],
    [{ lower: [l], ...rw, mountpoint: path.join(set.base, 'link', 'sub') }, /^mountpoint \S+\/link\/sub \(\S+\/l0\/sub\) is inside lower\[0\] /],
  ];
  try {
    const results = await inChild(set, cases.map(([opts]) => opts));
    results.forEach((r, i) => {
      const label = JSON.stringify(cases[i][0]);
      assert.is(r.name, 'ConfigError', `${label}: ${JSON.stringify(r)}`);
      assert.is(r.code, 'EINVAL', label);
      assert.is(r.option, 'mountpoint', label);
      assert.match(r.message!, cases[i][1], label);
    });
    assert.equal(fuseMountsUnder(set.base), [], 'nothing left mounted');
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('a process with several mounts: a layer on one of its own mounts is refused (EDEADLK); on another process\'s mount it is served', async () => {
  const set = sample();
  const [m1, m2] = ['m1', 'm2'].map((d) => path.join(set.base, d));
  for (const d of [m1, m2, path.join(set.base, 'u2'), path.join(set.base, 'w2')]) fs.mkdirSync(d);
  try {
    const results = await inChild(set, [
      { lower: set.lower, upper: set.upper, work: set.work, mountpoint: m1 },
      { lower: [m1], upper: path.join(set.base, 'u2'), work: path.join(set.base, 'w2'), mountpoint: m2 },
      { lower: [set.lower[0]], upper: path.join(set.base, 'u2'), work: path.join(set.base, 'w2'), mountpoint: path.join(m1, 'etc') },
    ]);
    assert.equal(results[0], { mounted: true });
    assert.is(results[1].code, 'EDEADLK', JSON.stringify(results[1]));
    assert.is(results[1].option, 'lower[0]');
    assert.match(results[1].message!, /^lower\[0\] \S+\/m1 is on a mount this process serves: the server would wait on its own mount \(mount it from another process\)$/);
    assert.equal(results[2], { mounted: true }, 'a mountpoint inside another of its mounts is fine (another thread serves it)');
    // The same stack from this process (another one than the child's): served.
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: m1 }, async () => {
      const child = await inChild(set, [{ lower: [m1], upper: path.join(set.base, 'u2'), work: path.join(set.base, 'w2'), mountpoint: m2 }]);
      assert.equal(child[0], { mounted: true });
    });
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('one upper and work, one user: a second mount() or Overlay.open is refused with EBUSY naming the mount', async () => {
  const set = sample();
  const [m1, m2] = ['m1', 'm2'].map((d) => path.join(set.base, d));
  const w2 = path.join(set.base, 'w2');
  for (const d of [m1, m2, w2]) fs.mkdirSync(d);
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: m1 }, async () => {
      const refusals: [Record<string, unknown>, string][] = [
        [{ lower: set.lower, upper: set.upper, work: set.work, mountpoint: m2 }, 'work'],
        [{ lower: set.lower, upper: set.upper, work: w2, mountpoint: m2 }, 'upper'],
      ];
      for (const [opts, option] of refusals) {
        const err = await mount(opts as never).then(async (m) => { await m.unmount(); return null; }, (e) => e as { name: string; code: string; option: string; message: string });
        assert.ok(err, `${JSON.stringify(opts)} must be refused`);
        assert.is(err!.code, 'EBUSY');
        assert.is(err!.option, option);
        const dir = option === 'work' ? opts.work : opts.upper;
        assert.is(err!.message, `${option} ${dir} is in use by the mount on ${m1} (pid ${process.pid}): an upper and work directory serve one mount at a time`);
      }
      assert.throws(() => Overlay.open({ lower: set.lower, upper: set.upper, work: set.work }), (e: Error & { code: string }) =>
        e.code === 'EBUSY' && e.message.startsWith(`work ${set.work} is in use by the mount on ${m1}`));
      assert.equal(fuseMountsUnder(set.base), [m1]);
      assert.is(fs.readFileSync(path.join(m1, 'etc/base'), 'utf8'), 'base', 'the first mount is untouched');
    });
    // Let go at unmount: the engine opens it now, and holds it in turn.
    const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
    try {
      const err = await mount({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: m2 }).then(async (m) => { await m.unmount(); return null; }, (e) => e as Error & { code: string });
      assert.is(err?.code, 'EBUSY');
      assert.is(err!.message, `work ${set.work} is in use by process ${process.pid}: an upper and work directory serve one mount at a time`);
    } finally {
      ov.close();
    }
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: m2 }, () => undefined);
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('a SIGKILLed holder leaves no stale lock: the next mount() of its upper and work is made', async () => {
  const set = sample();
  const mp = path.join(set.base, 'm');
  const other = path.join(set.base, 'other');
  for (const d of [mp, other]) fs.mkdirSync(d);
  const opts = { lower: set.lower, upper: set.upper, work: set.work, mountpoint: mp };
  try {
    const program = `require(${JSON.stringify(LIB)}).mount(${JSON.stringify(opts)})
      .then(() => { console.log('ready'); setInterval(() => {}, 1000); }, (e) => { console.error(e); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && res());
      child.once('exit', (code) => rej(new Error(`child exited ${code} before mounting`)));
    });
    const held = await mount({ ...opts, mountpoint: other }).then(async (m) => { await m.unmount(); return null; }, (e) => e as Error & { code: string });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.is(held?.code, 'EBUSY', 'held while the child lives');
    await withLayerfs(opts, () => {
      fs.writeFileSync(path.join(mp, 'etc/new'), 'after');
    });
    assert.is(fs.readFileSync(path.join(set.upper, 'etc/new'), 'utf8'), 'after');
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('no mount left behind', () => {
  for (const base of bases) {
    assertNoMountsUnder(base);
    removeTree(base);
  }
});

test.run();
