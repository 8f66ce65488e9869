/**
 * The mount service (lib/cli/service.ts): later mounts through the C launcher are made by the server
 * already running, in its own thread; each mount still ends on its own; errors come back as one
 * line; the server leaves after its linger time; LAYERFS_NO_SERVICE=1 keeps a server per mount.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { makeLayerSet, removeTree, tempDir } from '../helpers/layers';

const run = promisify(execFile);
const LAUNCHER = path.join(__dirname, '..', '..', '..', 'native-bindings', 'build', 'Release', 'layerfs');
// A service of this test file's own (LAYERFS_RUNTIME_DIR), never the machine-wide /run/layerfs: other
// tests and users may run theirs at the same time.
const RUNTIME = tempDir('layerfs-svc-');
const SOCKET = path.join(RUNTIME, 'service.sock');
const ENV = { ...process.env, LAYERFS_RUNTIME_DIR: RUNTIME, LAYERFS_SERVICE_LINGER: '0.3' };
process.on('exit', () => removeTree(RUNTIME));

function mounted(mnt: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
}

/** Pids of layerfs servers whose command line names `dir`. */
function serversFor(dir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args=']).toString();
  return out.split('\n').filter((l) => l.includes('cli/main.js') && l.includes(dir)).map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function layerfs(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(LAUNCHER, args, { env: { ...ENV, ...env }, timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (let t = 0; t < ms; t += 50) {
    if (cond()) return true;
    await new Promise((res) => setTimeout(res, 50));
  }
  return cond();
}

function stack(n: number) {
  const set = makeLayerSet([{ 'etc/base': { type: 'file', content: 'base' } }]);
  const mounts = Array.from({ length: n }, (_, i) => {
    const dir = path.join(set.base, `c${i}`);
    for (const d of ['u', 'w', 'm']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    return { dir, mnt: path.join(dir, 'm'), opts: `lowerdir=${set.lower[0]},upperdir=${dir}/u,workdir=${dir}/w` };
  });
  const cleanup = () => {
    for (const m of mounts) if (mounted(m.mnt)) execFileSync('umount', ['-l', m.mnt]);
    set.remove();
  };
  return { set, mounts, cleanup };
}

test('later mounts are made by the running server; each ends on its own; the server leaves when idle', async () => {
  await until(() => !fs.existsSync(SOCKET), 15_000); // the previous test's server lingering
  const { set, mounts, cleanup } = stack(3);
  try {
    for (const m of mounts) {
      const r = await layerfs(['-o', m.opts, m.mnt]);
      assert.is(r.code, 0, r.stderr);
      assert.ok(mounted(m.mnt));
    }
    const pids = serversFor(set.base);
    assert.is(pids.length, 1, `one server for three mounts: ${pids}`);
    assert.is(fs.readlinkSync(`/proc/${pids[0]}/cwd`), '/', 'the background server keeps no directory busy');
    fs.writeFileSync(path.join(mounts[1].mnt, 'etc/new'), 'one');
    assert.is(fs.readFileSync(path.join(mounts[2].mnt, 'etc/base'), 'utf8'), 'base');
    // The first mount ends; the same mountpoint is mounted again at once, through the service,
    // while the old session winds down (it still counts among the service's mounts until its end
    // reaches the service's thread): the service makes the new mount, and it stays. Every round.
    for (let round = 0; round < 6; round++) {
      fs.writeFileSync(path.join(mounts[0].mnt, `round-${round}`), String(round));
      execFileSync('umount', [mounts[0].mnt]);
      const again = await layerfs(['-o', mounts[0].opts, mounts[0].mnt]);
      assert.is(again.code, 0, again.stderr);
      assert.equal(serversFor(set.base), pids, `round ${round}: the remount is made by the running server`);
      assert.ok(mounted(mounts[0].mnt), `round ${round}: mounted`);
      assert.is(fs.readFileSync(path.join(mounts[0].mnt, `round-${round}`), 'utf8'), String(round), 'the data of the old mount is there');
    }
    // The same, deterministically: a lazy unmount with a file still open keeps the old session
    // alive for as long as the test wants, so the service cannot have seen its end. The remount
    // (other upper and work: the old ones stay in use while the old session lives) is the
    // service's to make.
    const busy = fs.openSync(path.join(mounts[0].mnt, 'etc/base'), 'r');
    let other: { code: number; stderr: string };
    try {
      execFileSync('umount', ['-l', mounts[0].mnt]);
      for (const d of ['u2', 'w2']) fs.mkdirSync(path.join(mounts[0].dir, d));
      other = await layerfs(['-o', `lowerdir=${set.lower[0]},upperdir=${mounts[0].dir}/u2,workdir=${mounts[0].dir}/w2`, mounts[0].mnt]);
      assert.is(fs.readFileSync(busy, 'utf8'), 'base', 'the detached mount still serves its open file');
    } finally {
      fs.closeSync(busy);
    }
    assert.is(other.code, 0, other.stderr);
    assert.equal(serversFor(set.base), pids, 'the remount after a lazy unmount is made by the running server');
    assert.not.ok(fs.existsSync(path.join(mounts[0].mnt, 'round-0')), 'the new mount is the one on u2');
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(mounted(mounts[0].mnt), 'the new mount survives the old one winding down');
    assert.is(fs.readFileSync(path.join(mounts[0].mnt, 'etc/base'), 'utf8'), 'base');
    assert.equal(serversFor(set.base), pids);
    // Errors and warnings come back through the service, one line each.
    const bad = await layerfs(['-o', `lowerdir=${set.base}/missing`, mounts[0].mnt]);
    assert.is(bad.code, 1);
    assert.match(bad.stderr.trim(), /^layerfs: lower\[0\] .*missing: does not exist$/);
    for (const m of mounts) execFileSync('umount', [m.mnt]);
    assert.is(fs.readFileSync(path.join(mounts[1].dir, 'u/etc/new'), 'utf8'), 'one', 'data on the upper');
    assert.ok(await until(() => serversFor(set.base).length === 0), 'the server exits after its linger time');
    assert.not.ok(fs.existsSync(SOCKET), 'and removes its socket');
  } finally {
    cleanup();
  }
});

test('a mount on or inside one of its own mounts is left to a server of its own (no self-deadlock)', async () => {
  await until(() => !fs.existsSync(SOCKET), 15_000);
  const { set, mounts, cleanup } = stack(2);
  const nested = path.join(mounts[0].mnt, 'etc');
  try {
    assert.is((await layerfs(['-o', mounts[0].opts, mounts[0].mnt])).code, 0);
    // Its mountpoint lies in the first mount: the service must not stat it itself.
    const r = await layerfs(['-o', mounts[1].opts, nested]);
    assert.is(r.code, 0, r.stderr);
    assert.ok(mounted(nested));
    assert.is(serversFor(set.base).length, 2, 'a server of its own for the nested mount');
    execFileSync('umount', [nested]);
    for (const m of mounts) if (mounted(m.mnt)) execFileSync('umount', [m.mnt]);
    assert.ok(await until(() => serversFor(set.base).length === 0));
  } finally {
    if (mounted(nested)) execFileSync('umount', ['-l', nested]);
    cleanup();
  }
});

test('-f is not taken by the service; LAYERFS_NO_SERVICE=1 starts a server per mount', async () => {
  await until(() => !fs.existsSync(SOCKET), 15_000);
  const { set, mounts, cleanup } = stack(2);
  try {
    assert.is((await layerfs(['-o', mounts[0].opts, mounts[0].mnt])).code, 0);
    assert.ok(fs.existsSync(SOCKET), 'the first server listens');
    const fg = execFile(LAUNCHER, ['-f', '-o', mounts[1].opts, mounts[1].mnt], { env: ENV });
    const fgExit = new Promise<number | null>((res) => fg.once('exit', (code) => res(code)));
    assert.ok(await until(() => mounted(mounts[1].mnt)));
    assert.is(serversFor(set.base).length, 2, 'a foreground server of its own');
    execFileSync('umount', [mounts[1].mnt]);
    assert.is(await fgExit, 0);
    assert.is((await layerfs(['-o', mounts[1].opts, mounts[1].mnt], { LAYERFS_NO_SERVICE: '1' })).code, 0);
    assert.is(serversFor(set.base).length, 2, 'LAYERFS_NO_SERVICE=1: a server of its own');
    for (const m of mounts) execFileSync('umount', [m.mnt]);
    assert.ok(await until(() => serversFor(set.base).length === 0));
  } finally {
    cleanup();
  }
});

test.run();
