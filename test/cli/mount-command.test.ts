import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { makeLayerSet, LayerSet, removeTree, tempDir } from '../helpers/layers';
import { inPrivateMountNamespace, LAUNCHER, launcherIn, scratchDir } from '../helpers/scratch';

// The mount service of this file's servers lives in a directory of its own (every child inherits
// it), never in the machine-wide /run/layerfs.
process.env.LAYERFS_RUNTIME_DIR = tempDir('layerfs-mc-svc-');
process.on('exit', () => removeTree(process.env.LAYERFS_RUNTIME_DIR!));

const run = promisify(execFile);
const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');
type Front = 'node' | 'launcher';
const FRONTS: Front[] = ['launcher', 'node'];

function mounted(mnt: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);
}

async function cleanup(mnt: string): Promise<void> {
  if (mounted(mnt)) {
    try {
      execFileSync('umount', ['-l', mnt]);
    } catch {
      /* gone */
    }
  }
}

async function layerfs(args: string[], front: Front = 'launcher'): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const [prog, argv] = front === 'node' ? [process.execPath, [CLI, ...args]] : [LAUNCHER, args];
    // Not the machine-wide mount service (/run/layerfs): each mount here has a server of its own,
    // which the test checks is gone after umount.
    const r = await run(prog, argv, { timeout: 30_000, env: { ...process.env, LAYERFS_NO_SERVICE: '1' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function sampleSet(): LayerSet & { mnt: string; opts: string } {
  const set = makeLayerSet([{ 'etc/app.conf': { type: 'file', content: 'top' }, 'old': { type: 'whiteout' } }, { 'etc/base': { type: 'file', content: 'base' }, 'old': { type: 'file' }, 'dir/f': { type: 'file', content: 'f' } }]);
  const mnt = path.join(set.base, 'merged');
  fs.mkdirSync(mnt);
  return { ...set, mnt, opts: `lowerdir=${set.lower.join(':')},upperdir=${set.upper},workdir=${set.work}` };
}

for (const front of FRONTS) test(`daemon mode (${front} front): exits 0 once the mount answers; umount syncs and the server exits`, async () => {
  const s = sampleSet();
  try {
    const r = await layerfs(['-o', s.opts + ',,noatime', s.mnt], front);
    assert.is(r.code, 0, r.stderr);
    assert.ok(mounted(s.mnt));
    // The mount answers right away: no wait, no retry.
    assert.is(fs.readFileSync(path.join(s.mnt, 'etc/base'), 'utf8'), 'base');
    assert.equal(fs.readdirSync(s.mnt).sort(), ['dir', 'etc']);
    fs.writeFileSync(path.join(s.mnt, 'etc/new'), 'written');
    fs.renameSync(path.join(s.mnt, 'dir'), path.join(s.mnt, 'moved'));
    const u = await layerfs(['umount', s.mnt], front);
    assert.is(u.code, 0, u.stderr);
    assert.not.ok(mounted(s.mnt));
    assert.is(fs.readFileSync(path.join(s.upper, 'etc/new'), 'utf8'), 'written', 'data on the upper after umount');
    // The background server is gone too (soon: it exits once the kernel ends its session).
    const servers = () => execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes('cli/main.js') && l.includes(s.mnt));
    for (let i = 0; i < 100 && servers().length > 0; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(servers(), []);
  } finally {
    await cleanup(s.mnt);
    s.remove();
  }
});

test('SIGTERM to the foreground server unmounts cleanly', async () => {
  const s = sampleSet();
  try {
    const child = require('node:child_process').spawn(process.execPath, [CLI, '-f', '-o', s.opts, s.mnt], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !mounted(s.mnt); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(mounted(s.mnt));
    fs.writeFileSync(path.join(s.mnt, 'x'), 'y');
    child.kill('SIGTERM');
    const code = await new Promise((res) => child.once('exit', res));
    assert.is(code, 0);
    assert.not.ok(mounted(s.mnt));
    assert.is(fs.readFileSync(path.join(s.upper, 'x'), 'utf8'), 'y');
  } finally {
    await cleanup(s.mnt);
    s.remove();
  }
});

test('SIGUSR1: the server logs each mount\'s statistics, time per request included, and goes on serving', async () => {
  const s = sampleSet();
  try {
    // In the foreground the log is stderr (in the background: log=FILE, else syslog).
    const child = require('node:child_process').spawn(process.execPath, [CLI, '-f', '-o', s.opts, s.mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    for (let i = 0; i < 100 && !mounted(s.mnt); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(mounted(s.mnt));
    fs.writeFileSync(path.join(s.mnt, 'x'), 'y');
    fs.readFileSync(path.join(s.mnt, 'etc/base'));
    child.kill('SIGUSR1');
    let line: string | undefined;
    for (let i = 0; i < 100 && line === undefined; i++) {
      await new Promise((res) => setTimeout(res, 20));
      line = stderr.split('\n').find((l) => l.startsWith(`layerfs: stats ${s.mnt} `));
    }
    assert.ok(line !== undefined, `a stats line on stderr (-f): ${stderr}`);
    const stats = JSON.parse(line!.slice(`layerfs: stats ${s.mnt} `.length));
    assert.ok(stats.requests.CREATE >= 1, 'requests by opcode');
    assert.is(stats.latency.CREATE.count, stats.requests.CREATE);
    assert.ok(stats.latency.CREATE.p50Us > 0 && stats.latency.CREATE.maxUs >= stats.latency.CREATE.p50Us);
    assert.ok(stats.latency.LOOKUP.count >= 1);
    assert.is(fs.readFileSync(path.join(s.mnt, 'x'), 'utf8'), 'y', 'still serving');
    child.kill('SIGTERM');
    assert.is(await new Promise((res) => child.once('exit', res)), 0);
  } finally {
    await cleanup(s.mnt);
    s.remove();
  }
});

test('mount -t fuse.layerfs, and mount.fuse3 as containerd runs it for type fuse3.layerfs (layerfs installed where mount(8) finds it, in a mount namespace of the test\'s own)', async () => {
  const s = sampleSet();
  const scratch = scratchDir('layerfs-bin-');
  try {
    launcherIn(scratch.dir);
    const check = `test "$(cat '${s.mnt}/etc/app.conf')" = top
grep -q '^overlay ${s.mnt} fuse.layerfs ' /proc/self/mounts
umount '${s.mnt}'
! grep -q ' ${s.mnt} ' /proc/self/mounts`;
    // mount(8) drops PATH and reaches us through mount.fuse3's shell, whose default PATH holds the
    // directory the README installs us in (test/helpers/scratch.ts). containerd (mount type
    // fuse3.layerfs, as its fuse-overlayfs snapshotter uses fuse3.fuse-overlayfs) strips the
    // "fuse3." prefix and runs the helper itself.
    const out = inPrivateMountNamespace(path.join(scratch.dir, 'bin'), `
mount -t fuse.layerfs overlay '${s.mnt}' -o '${s.opts}'
${check}
echo mount ok
mount.fuse3 overlay '${s.mnt}' -o '${s.opts}' -t layerfs
${check}
echo mount.fuse3 ok`, { LAYERFS_NO_SERVICE: '1' });
    assert.equal(out.trim().split('\n'), ['mount ok', 'mount.fuse3 ok']);
    assert.not.ok(mounted(s.mnt), 'nothing of the namespace shows here');
  } finally {
    await cleanup(s.mnt);
    scratch.remove();
    s.remove();
  }
});

for (const front of FRONTS) test(`failures (${front} front): one clear line on stderr, non-zero exit, nothing mounted`, async () => {
  const s = sampleSet();
  try {
    const cases: [string[], RegExp][] = [
      [['-o', `lowerdir=${s.base}/missing`, s.mnt], /lower\[0\] .*missing: does not exist/],
      [['-o', `lowerdir=${s.lower[0]},upperdir=${s.lower[0]}/etc,workdir=${s.work}`, s.mnt], /upper .* is inside lower\[0\]/],
      [['-o', `lowerdir=${s.lower[0]},upperdir=${s.upper},workdir=/dev/shm`, s.mnt], /work \/dev\/shm: not on the same filesystem as upper/],
      [['-o', `lowerdir=${s.lower[0]}`, `${s.base}/nomnt`], /mountpoint .*nomnt: does not exist/],
      [['-o', `lowerdir=${s.lower[0]}/etc/app.conf`, s.mnt], /not a directory/],
      [['-o', `lowerdir=${s.lower[0]},uidmapping=0:1`, s.mnt], /uidmapping=0:1: expected/],
    ];
    for (const [args, pattern] of cases) {
      const r = await layerfs(args, front);
      assert.ok(r.code !== 0, `${args.join(' ')} should fail`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], pattern);
      assert.not.match(r.stderr, /at .*\.js:\d+/, 'no stack trace');
      assert.not.ok(mounted(s.mnt));
    }
    // Busy: the mountpoint already has a layerfs mount on it.
    assert.is((await layerfs(['-o', s.opts, s.mnt], front)).code, 0);
    const again = await layerfs(['-o', s.opts, s.mnt], front);
    assert.ok(again.code !== 0 || mounted(s.mnt));
  } finally {
    await cleanup(s.mnt);
    await cleanup(s.mnt);
    s.remove();
  }
});

for (const front of FRONTS) test(`--help and --version (${front} front)`, async () => {
  const h = await layerfs(['--help'], front);
  assert.is(h.code, 0);
  assert.match(h.stdout, /lowerdir=/);
  const v = await layerfs(['--version'], front);
  assert.match(v.stdout, /^layerfs \d+\.\d+\.\d+/);
});

test('launcher: -f stays in the foreground until SIGTERM, which unmounts', async () => {
  const s = sampleSet();
  try {
    const { spawn } = await import('node:child_process');
    const child = spawn(LAUNCHER, ['-f', '-o', s.opts, s.mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    for (let i = 0; i < 100 && !mounted(s.mnt); i++) await new Promise((res) => setTimeout(res, 50));
    assert.ok(mounted(s.mnt), 'mounted while the launcher runs');
    assert.is(child.exitCode, null, 'the launcher waits for its foreground server');
    assert.is(fs.readFileSync(path.join(s.mnt, 'etc/base'), 'utf8'), 'base');
    child.kill('SIGTERM'); // passed on to the server, which unmounts and exits 0
    assert.is(await exited, 0);
    assert.not.ok(mounted(s.mnt));
  } finally {
    await cleanup(s.mnt);
    s.remove();
  }
});

test('launcher: a missing node or script is one clear line', async () => {
  const r = await run(LAUNCHER, ['--version'], { env: { ...process.env, LAYERFS_NODE: '/nonexistent/node' } }).catch((e) => e);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^layerfs: node not found/);
  const m = await run(LAUNCHER, ['--version'], { env: { ...process.env, LAYERFS_MAIN: '/nonexistent/main.js' } }).catch((e) => e);
  assert.is(m.code, 1);
  assert.match(m.stderr, /^layerfs: \/nonexistent\/main.js: not found/);
});

test.run();
