/**
 * The layerfs command never makes a mount that waits on itself (issue 17, item 2): a mountpoint in
 * a lower or the upper, over a layer, or reached through a symlink into a layer is refused before
 * mounting with one line; a layer on a mount the mount service serves gets a server of its own.
 * One upper and work directory serve one live mount (item 3): a second is refused with one line
 * naming the first, through any front, and a SIGKILLed holder leaves no stale lock.
 *
 * Whatever might hang runs in a child with a deadline that aborts the FUSE connections of this
 * test's mounts (test/helpers/bounded.ts): a failure fails, it never hangs CI.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeLayerSet, removeTree, tempDir, LayerSet } from '../helpers/layers';
import { fuseMountsUnder, releaseMountsUnder, runBounded } from '../helpers/bounded';

const LAUNCHER = path.join(__dirname, '..', '..', '..', 'native-bindings', 'build', 'Release', 'layerfs');
const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const RUNTIME = tempDir('layerfs-guard-svc-');
const SOCKET = path.join(RUNTIME, 'service.sock');
const ENV = { ...process.env, LAYERFS_RUNTIME_DIR: RUNTIME, LAYERFS_SERVICE_LINGER: '0.2' };
process.on('exit', () => removeTree(RUNTIME));

function sample(): LayerSet {
  const set = makeLayerSet([{ 'sub/f': { type: 'file', content: 'lower' }, 'etc/base': { type: 'file', content: 'base' } }], undefined, tempDir('layerfs-guard-'));
  fs.mkdirSync(path.join(set.upper, 'usub'));
  fs.symlinkSync(set.lower[0], path.join(set.base, 'link'));
  return set;
}

/** Pids of layerfs servers whose command line names `dir`. */
function serversFor(dir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args=']).toString();
  return out.split('\n').filter((l) => l.includes('cli/main.js') && l.includes(dir)).map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function until(cond: () => boolean, ms = 20_000): Promise<boolean> {
  for (let t = 0; t < ms; t += 50) {
    if (cond()) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  return cond();
}

/**
 * Runs `layerfs ARGS`; when it mounted, lists the mountpoint and everything in it in a child too
 * (on a mount waiting on itself that hangs until the deadline aborts it).
 */
async function attempt(set: LayerSet, args: string[], env: NodeJS.ProcessEnv, front: 'launcher' | 'node' = 'launcher') {
  const [file, argv] = front === 'node' ? [process.execPath, [CLI, ...args]] : [LAUNCHER, args];
  const r = await runBounded(file, argv, { under: set.base, env });
  const mp = args[args.length - 1];
  const ls = fuseMountsUnder(set.base).length > 0 ? await runBounded('ls', ['-laR', path.dirname(mp), mp], { under: set.base, ms: 10_000 }) : null;
  return { ...r, ls };
}

test('a mountpoint that would make the server wait on itself is refused with one line, nothing mounted', async () => {
  const set = sample();
  const l = set.lower[0];
  const opts = `lowerdir=${l},upperdir=${set.upper},workdir=${set.work}`;
  fs.mkdirSync(path.join(set.base, 'over'));
  const covered = path.join(set.base, 'over', 'layer');
  fs.mkdirSync(covered);
  const cases: [string, string[], RegExp][] = [
    ['in the lower', ['-o', opts, path.join(l, 'sub')], /^layerfs: mountpoint \S+\/l0\/sub is inside lower\[0\] \S+\/l0: the server would wait on its own mount/],
    ['in the upper', ['-o', opts, path.join(set.upper, 'usub')], /^layerfs: mountpoint \S+\/upper\/usub is inside upper \S+\/upper: /],
    ['the lower itself', ['-o', opts, l], /^layerfs: mountpoint \S+\/l0 is lower\[0\] /],
    ['over a layer', ['-o', `lowerdir=${covered},upperdir=${set.upper},workdir=${set.work}`, path.join(set.base, 'over')], /^layerfs: mountpoint \S+\/over would cover lower\[0\] \S+\/over\/layer: /],
    ['through a symlink', ['-o', opts, path.join(set.base, 'link', 'sub')], /^layerfs: mountpoint \S+\/link\/sub \(\S+\/l0\/sub\) is inside lower\[0\] /],
    ['a layer through a symlink', ['-o', `lowerdir=${set.base}/link,upperdir=${set.upper},workdir=${set.work}`, path.join(l, 'sub')], /^layerfs: mountpoint \S+\/l0\/sub is inside lower\[0\] \S+\/link \(\S+\/l0\): /],
  ];
  try {
    for (const front of ['launcher', 'node'] as const) {
      for (const [what, args, pattern] of cases) {
        const label = `${what} (${front})`;
        const r = await attempt(set, args, { ...ENV, LAYERFS_NO_SERVICE: '1' }, front);
        releaseMountsUnder(set.base);
        assert.not.ok(r.hung, `${label}: the command returned`);
        assert.not.ok(r.ls?.hung, `${label}: a mount was made, and listing it hung (aborted)`);
        assert.is(r.code, 1, `${label}: refused (${r.stderr})`);
        assert.match(r.stderr, pattern, label);
        assert.is(r.stderr.trim().split('\n').length, 1, `${label}: one line: ${r.stderr}`);
        assert.is(r.ls, null, `${label}: nothing mounted`);
      }
    }
    assert.is(fs.readFileSync(path.join(l, 'sub/f'), 'utf8'), 'lower');
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('through the mount service: its own mountpoint in a layer is refused in one line; a layer on one of its mounts gets a server of its own', async () => {
  assert.ok(await until(() => !fs.existsSync(SOCKET)), 'the service of the test before has left (it syncs the upper first)');
  const set = sample();
  const l = set.lower[0];
  const m1 = path.join(set.base, 'm1');
  const m2 = path.join(set.base, 'm2');
  fs.mkdirSync(m1);
  fs.mkdirSync(m2);
  for (const d of ['u2', 'w2']) fs.mkdirSync(path.join(set.base, d));
  try {
    const first = await attempt(set, ['-o', `lowerdir=${l},upperdir=${set.upper},workdir=${set.work}`, m1], ENV);
    assert.is(first.code, 0, first.stderr);
    const pids = serversFor(set.base);
    assert.is(pids.length, 1);
    // Asked of the running service: refused there, in one line.
    const self = await attempt(set, ['-o', `lowerdir=${l},upperdir=${set.base}/u2,workdir=${set.base}/w2`, path.join(l, 'sub')], ENV);
    assert.not.ok(self.hung || self.ls?.hung, 'nothing hung');
    assert.is(self.code, 1, self.stderr);
    assert.match(self.stderr, /^layerfs: mountpoint \S+\/l0\/sub is inside lower\[0\] /);
    assert.equal(serversFor(set.base), pids, 'no server started for it');
    // A lower that is the service's own mount: a server of its own serves the stack (no hang).
    const stacked = await attempt(set, ['-o', `lowerdir=${m1},upperdir=${set.base}/u2,workdir=${set.base}/w2`, m2], ENV);
    assert.not.ok(stacked.hung || stacked.ls?.hung, 'nothing hung');
    assert.is(stacked.code, 0, stacked.stderr);
    assert.is(serversFor(set.base).length, 2, 'a server of its own for the stacked mount');
    assert.is((await runBounded('cat', [path.join(m2, 'etc/base')], { under: set.base })).stdout, 'base');
    execFileSync('umount', [m2]);
    // m1 stays busy until the stacked mount's server has closed its lower on it
    assert.ok(await until(() => serversFor(set.base).length === 1), 'the stacked mount\'s server leaves');
    execFileSync('umount', [m1]);
    assert.ok(await until(() => serversFor(set.base).length === 0), 'both servers leave');
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('a second mount of the same upper and work is refused, naming the first; through the service too', async () => {
  assert.ok(await until(() => !fs.existsSync(SOCKET)), 'the service of the test before has left (it syncs the upper first)');
  const set = sample();
  const [m1, m2, m3] = ['m1', 'm2', 'm3'].map((d) => path.join(set.base, d));
  for (const d of [m1, m2, m3, path.join(set.base, 'w2')]) fs.mkdirSync(d);
  const opts = `lowerdir=${set.lower[0]},upperdir=${set.upper},workdir=${set.work}`;
  try {
    const first = await attempt(set, ['-o', opts, m1], ENV);
    assert.is(first.code, 0, first.stderr);
    const pid = serversFor(set.base)[0];
    const cases: [string, string[], NodeJS.ProcessEnv, 'launcher' | 'node', RegExp][] = [
      ['service, same work', ['-o', opts, m2], ENV, 'launcher', new RegExp(`^layerfs: work ${set.work} is in use by the mount on ${m1} \\(pid ${pid}\\): an upper and work directory serve one mount at a time\n$`)],
      ['own server, same mountpoint', ['-o', opts, m1], ENV, 'launcher', new RegExp(`^layerfs: work ${set.work} is in use by the mount on ${m1} \\(pid ${pid}\\)`)],
      ['node front, same work', ['-o', opts, m2], { ...ENV, LAYERFS_NO_SERVICE: '1' }, 'node', new RegExp(`^layerfs: work ${set.work} is in use by the mount on ${m1} \\(pid ${pid}\\)`)],
      ['same upper, other work', ['-o', `lowerdir=${set.lower[0]},upperdir=${set.upper},workdir=${set.base}/w2`, m3], { ...ENV, LAYERFS_NO_SERVICE: '1' }, 'launcher', new RegExp(`^layerfs: upper ${set.upper} is in use by the mount on ${m1} \\(pid ${pid}\\)`)],
    ];
    for (const [what, args, env, front, pattern] of cases) {
      const r = await attempt(set, args, env, front);
      assert.not.ok(r.hung, what);
      assert.is(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, pattern, `${what}: ${r.stderr}`);
      assert.equal(fuseMountsUnder(set.base), [m1], `${what}: only the first mount`);
    }
    execFileSync('umount', [m1]);
    // Unmounted: the next mount of the same stack is made at once (it waits for the old server to
    // close its layers, not for a timeout).
    const t0 = Date.now();
    const again = await attempt(set, ['-o', opts, m2], ENV);
    assert.is(again.code, 0, again.stderr);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    execFileSync('umount', [m2]);
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test('a SIGKILLed server leaves no stale lock: the next mount of its upper and work is made', async () => {
  assert.ok(await until(() => !fs.existsSync(SOCKET)), 'the service of the test before has left (it syncs the upper first)');
  const set = sample();
  const mp = path.join(set.base, 'm');
  fs.mkdirSync(mp);
  const opts = `lowerdir=${set.lower[0]},upperdir=${set.upper},workdir=${set.work}`;
  try {
    const child = spawn(process.execPath, [CLI, '-f', '-o', opts, mp], { env: ENV, stdio: 'ignore' });
    const exited = new Promise((res) => child.once('exit', res));
    assert.ok(await until(() => fuseMountsUnder(set.base).includes(mp), 15_000), 'the -f server mounted');
    const busy = await attempt(set, ['-o', opts, mp], { ...ENV, LAYERFS_NO_SERVICE: '1' });
    assert.is(busy.code, 1, 'held while it lives');
    assert.match(busy.stderr, new RegExp(`in use by the mount on ${mp} \\(pid ${child.pid}\\)`));
    child.kill('SIGKILL');
    await exited;
    // Its mount is dead (ENOTCONN) and its lock gone with it: the new server clears the one, takes the other.
    const r = await attempt(set, ['-o', opts, mp], ENV);
    assert.not.ok(r.hung);
    assert.is(r.code, 0, r.stderr);
    assert.is((await runBounded('cat', [path.join(mp, 'etc/base')], { under: set.base })).stdout, 'base');
    execFileSync('umount', [mp]);
  } finally {
    releaseMountsUnder(set.base);
    set.remove();
  }
});

test.run();
