/**
 * Unprivileged mounting: a normal user (nobody) mounts through fusermount3 with the library's
 * mount() and with the CLI, reads, copies up (also files and directories owned by root: the copy
 * stays the user's), deletes and renames lower objects, and unmounts with fusermount3 -u. Then, as
 * root: the upper holds user.overlay.* markers only, and the kernel's overlayfs with -o userxattr
 * reads that upper as layerfs showed it. Needs root (to set up and to switch user) and fusermount3.
 *
 * Whiteouts: since Linux 5.8 anyone may mknod the 0/0 whiteout device, so an unprivileged server
 * still writes device whiteouts; the xattr form (the fallback where mknod fails) is exercised through
 * the engine with the probe forced off. The kernel reads xattr whiteouts in lower layers only.
 *
 * Known difference: a renamed lower directory carries user.overlay.redirect, which the kernel
 * refuses with userxattr (it forces redirect_dir=nofollow: lookups of it fail with EPERM, where the
 * kernel itself would have answered rename(2) with EXDEV).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { missing, testIf } from '../helpers/skip';

const DIST = path.resolve(__dirname, '../..');
const USER = 'nobody';
/** Root sets the stack up and switches to the user; the user mounts through fusermount3. */
const SKIP = missing('root', '/dev/fuse', 'fusermount3', 'user nobody', 'setpriv');
const t = testIf(test, SKIP);
const uid = SKIP !== null ? -1 : Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
const gid = SKIP !== null ? -1 : Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());

/** Runs `node -e code` as the unprivileged user, no capabilities; returns its stdout (throws with stderr). */
function runAsUser(code: string, args: string[] = [], timeout = 30000): string {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--',
    process.execPath, '-e', code, ...args], { encoding: 'utf8', timeout, cwd: '/' });
  if (r.status !== 0) throw new Error(`as ${USER}: exit ${r.status ?? r.signal}\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

function mounted(mp: string): boolean {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mp);
}

function forceUnmount(mp: string): void {
  for (let i = 0; i < 3 && mounted(mp); i++) spawnSync('umount', ['-l', mp]);
}

interface Stack { base: string; lower: string; upper: string; work: string; mnt: string; kwork: string; kmnt: string }

/** Lower: some objects the user's, some root's (a root 0755 tree holding a user file, a world-writable root file). */
function makeStack(): Stack {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-unpriv-'));
  fs.chmodSync(base, 0o755);
  const s: Stack = {
    base, lower: path.join(base, 'lower'), upper: path.join(base, 'upper'), work: path.join(base, 'work'),
    mnt: path.join(base, 'mnt'), kwork: path.join(base, 'kwork'), kmnt: path.join(base, 'kmnt'),
  };
  for (const d of [s.upper, s.work, s.mnt, s.kwork, s.kmnt]) fs.mkdirSync(d);
  fs.mkdirSync(path.join(s.lower, 'dir/sub'), { recursive: true });
  fs.mkdirSync(path.join(s.lower, 'd/inner'), { recursive: true });
  const files: [string, string, number, boolean][] = [
    ['a.txt', 'hello\n', 0o644, true],
    ['gone.txt', 'bye\n', 0o644, true],
    ['ro.txt', 'ro\n', 0o444, true],
    ['ww.txt', 'ww\n', 0o666, false], // root's, world-writable
    ['dir/sub/f', 'x\n', 0o644, true], // the user's file in root's directories
    ['d/inner/g', 'in\n', 0o644, true],
  ];
  for (const [name, content, mode, mine] of files) {
    const p = path.join(s.lower, name);
    fs.writeFileSync(p, content);
    fs.chmodSync(p, mode);
    if (mine) fs.chownSync(p, uid, gid);
  }
  for (const p of [s.lower, path.join(s.lower, 'd'), path.join(s.lower, 'd/inner'), s.upper, s.work, s.mnt]) fs.chownSync(p, uid, gid);
  return s;
}

/** Every xattr name on every object under dir (as root, so trusted.* would show too). */
function xattrNamesUnder(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (rel: string) => {
    const names = sys.listxattrat(sys.AT.FDCWD, path.join(dir, rel)).filter((n) => !n.startsWith('security.'));
    if (rel !== '' || names.length > 0) out.set(rel, names);
    const st = fs.lstatSync(path.join(dir, rel));
    if (st.isDirectory()) for (const c of fs.readdirSync(path.join(dir, rel))) walk(rel === '' ? c : `${rel}/${c}`);
  };
  walk('');
  return out;
}

let devFuseMode: number | null = null;

// fusermount3 opens /dev/fuse as the calling user: it must be 0666 (as distributions ship it).
if (SKIP === null) test.before(() => {
  const mode = fs.statSync('/dev/fuse').mode & 0o777;
  if ((mode & 0o006) !== 0o006) {
    devFuseMode = mode;
    fs.chmodSync('/dev/fuse', 0o666);
  }
});

test.after(() => {
  if (devFuseMode !== null) fs.chmodSync('/dev/fuse', devFuseMode);
});

t('mount() as a normal user: fusermount3, copy-up of others\' objects, whiteouts, dir rename; the kernel reads the upper with userxattr', async () => {
  const s = makeStack();
  try {
    const script = `
      const { mount } = require(${JSON.stringify(path.join(DIST, 'lib/mount'))});
      const fs = require('fs');
      const M = process.argv[1];
      const out = {};
      const debug = [];
      (async () => {
        const h = await mount({ lower: [${JSON.stringify(s.lower)}], upper: ${JSON.stringify(s.upper)}, work: ${JSON.stringify(s.work)},
          mountpoint: M, debug: (l) => { if (!/^(->|<-)/.test(l)) debug.push(l); } });
        try {
          out.passthrough = h.passthrough;
          out.mountLine = fs.readFileSync('/proc/self/mounts', 'utf8').split('\\n').find((l) => l.split(' ')[1] === M);
          out.read = fs.readFileSync(M + '/a.txt', 'utf8');
          fs.appendFileSync(M + '/a.txt', 'more\\n');
          out.afterWrite = fs.readFileSync(M + '/a.txt', 'utf8');
          fs.appendFileSync(M + '/dir/sub/f', 'y\\n');
          fs.appendFileSync(M + '/ww.txt', 'ww2\\n');
          out.wwUid = fs.statSync(M + '/ww.txt').uid;
          fs.chmodSync(M + '/ro.txt', 0o400);
          out.roMode = fs.statSync(M + '/ro.txt').mode & 0o777;
          try { fs.chownSync(M + '/a.txt', 0, 0); out.chown = 'ok'; } catch (e) { out.chown = e.code; }
          fs.unlinkSync(M + '/gone.txt');
          fs.renameSync(M + '/d', M + '/d2');
          out.root = fs.readdirSync(M).sort();
          out.d2 = fs.readdirSync(M + '/d2/inner');
          out.g = fs.readFileSync(M + '/d2/inner/g', 'utf8');
        } finally {
          await h.unmount();
        }
        out.stillMounted = fs.readFileSync('/proc/self/mounts', 'utf8').split('\\n').some((l) => l.split(' ')[1] === M);
        out.debug = debug;
        process.stdout.write(JSON.stringify(out));
      })().catch((e) => { console.error(e.stack); process.exit(1); });`;
    const out = JSON.parse(runAsUser(script, [s.mnt]));
    assert.is(out.passthrough, false);
    assert.match(out.mountLine, / fuse\.layerfs /);
    assert.match(out.mountLine, new RegExp(`user_id=${uid}`), 'mounted by fusermount3 for the user');
    assert.ok(out.debug.some((l: string) => /userxattr on/.test(l)), 'userxattr turned on, at debug level');
    assert.ok(out.debug.some((l: string) => /passthrough off.*the kernel opens files/.test(l)), 'passthrough off and kernel opens, at debug level');
    assert.is(out.read, 'hello\n');
    assert.is(out.afterWrite, 'hello\nmore\n');
    assert.is(out.wwUid, uid, 'a copy of a root file stays the user\'s (chown EPERM ignored)');
    assert.is(out.roMode, 0o400);
    assert.is(out.chown, 'EPERM', 'a normal user still cannot give files away');
    assert.equal(out.root, ['a.txt', 'd2', 'dir', 'ro.txt', 'ww.txt']);
    assert.equal(out.d2, ['g']);
    assert.is(out.g, 'in\n');
    assert.is(out.stillMounted, false);
    assert.not.ok(mounted(s.mnt));

    // The upper: overlay markers in user.overlay.* only, nothing in trusted.*.
    const xattrs = xattrNamesUnder(s.upper);
    const all = [...xattrs.values()].flat();
    assert.not.ok(all.some((n) => n.startsWith('trusted.')), `no trusted.* xattrs: ${all}`);
    assert.ok(xattrs.get('d2')!.includes('user.overlay.redirect'));
    assert.ok(xattrs.get('a.txt')!.every((n) => n.startsWith('user.overlay.')));
    assert.not.ok(xattrs.get('ro.txt')!.includes('user.overlay.metacopy'), 'metacopy off unprivileged (kernel userxattr refuses it)');
    const gone = fs.lstatSync(path.join(s.upper, 'gone.txt'));
    const isDevWhiteout = gone.isCharacterDevice() && gone.rdev === 0;
    const isXattrWhiteout = gone.isFile() && gone.size === 0 && xattrs.get('gone.txt')!.includes('user.overlay.whiteout');
    assert.ok(isDevWhiteout || isXattrWhiteout, 'gone.txt is a whiteout');
    assert.is(fs.statSync(path.join(s.upper, 'dir/sub')).uid, uid, 'root directories copied up stay the user\'s');

    // The kernel's overlay with userxattr on the same upper sees the same tree.
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${s.lower},upperdir=${s.upper},workdir=${s.kwork},userxattr`, s.kmnt]);
    try {
      assert.equal(fs.readdirSync(s.kmnt).sort(), ['a.txt', 'd2', 'dir', 'ro.txt', 'ww.txt']);
      assert.is(fs.readFileSync(path.join(s.kmnt, 'a.txt'), 'utf8'), 'hello\nmore\n');
      assert.is(fs.readFileSync(path.join(s.kmnt, 'dir/sub/f'), 'utf8'), 'x\ny\n');
      assert.is(fs.readFileSync(path.join(s.kmnt, 'ww.txt'), 'utf8'), 'ww\nww2\n');
      assert.is(fs.readFileSync(path.join(s.kmnt, 'ro.txt'), 'utf8'), 'ro\n');
      assert.is(fs.statSync(path.join(s.kmnt, 'ro.txt')).mode & 0o777, 0o400);
      assert.not.ok(fs.existsSync(path.join(s.kmnt, 'gone.txt')));
      assert.not.ok(fs.existsSync(path.join(s.kmnt, 'd')));
      // d2 (a redirect): the kernel refuses it with userxattr (see the header)
      assert.throws(() => fs.statSync(path.join(s.kmnt, 'd2')), /EPERM/);
    } finally {
      forceUnmount(s.kmnt);
    }
  } finally {
    forceUnmount(s.mnt);
    forceUnmount(s.kmnt);
    fs.rmSync(s.base, { recursive: true, force: true });
  }
});

t('CLI as a normal user: layerfs -o ... mounts in the background, layerfs umount unmounts (fusermount3 -u)', async () => {
  const s = makeStack();
  const cli = path.join(DIST, 'lib/cli/main.js');
  try {
    const script = `
      const { execFileSync } = require('child_process');
      const fs = require('fs');
      const [cli, lower, upper, work, M] = process.argv.slice(1);
      execFileSync(process.execPath, [cli, '-o', 'lowerdir=' + lower + ',upperdir=' + upper + ',workdir=' + work, M], { stdio: 'inherit' });
      const out = {};
      try {
        out.read = fs.readFileSync(M + '/dir/sub/f', 'utf8');
        fs.writeFileSync(M + '/new.txt', 'new\\n');
        fs.unlinkSync(M + '/gone.txt');
      } finally {
        execFileSync(process.execPath, [cli, 'umount', M], { stdio: 'inherit' });
      }
      for (let i = 0; i < 100 && fs.readFileSync('/proc/self/mounts', 'utf8').includes(' ' + M + ' '); i++) execFileSync('sleep', ['0.05']);
      out.stillMounted = fs.readFileSync('/proc/self/mounts', 'utf8').includes(' ' + M + ' ');
      process.stdout.write(JSON.stringify(out));`;
    const out = JSON.parse(runAsUser(script, [cli, s.lower, s.upper, s.work, s.mnt]));
    assert.is(out.read, 'x\n');
    assert.is(out.stillMounted, false);
    assert.is(fs.readFileSync(path.join(s.upper, 'new.txt'), 'utf8'), 'new\n');
    assert.is(fs.statSync(path.join(s.upper, 'new.txt')).uid, uid);
    for (const p of ['', 'gone.txt']) assert.ok(sys.listxattrat(sys.AT.FDCWD, path.join(s.upper, p)).every((n) => !n.startsWith('trusted.')));
  } finally {
    forceUnmount(s.mnt);
    fs.rmSync(s.base, { recursive: true, force: true });
  }
});

t('xattr-form whiteouts written by a normal user (when mknod whiteouts fail) are read by the kernel (userxattr, as a lower layer)', async () => {
  const s = makeStack();
  try {
    // The engine alone, as the user, with the 0/0 device whiteout probe forced off.
    const script = `
      const { WorkDir } = require(${JSON.stringify(path.join(DIST, 'lib/engine/workdir'))});
      const { Overlay } = require(${JSON.stringify(path.join(DIST, 'lib/engine'))});
      WorkDir.prototype.canMknodWhiteout = () => false;
      (async () => {
        const o = Overlay.open({ lower: [${JSON.stringify(s.lower)}], upper: ${JSON.stringify(s.upper)}, work: ${JSON.stringify(s.work)}, userxattr: true, metacopy: false });
        await o.unlink('gone.txt');
        await o.unlink('dir/sub/f');
        await o.writeFile('a.txt', 'changed\\n');
        process.stdout.write(JSON.stringify({ root: o.readdir('').map((e) => e.name).sort(), sub: o.readdir('dir/sub').map((e) => e.name) }));
        await o.sync();
        o.close();
      })().catch((e) => { console.error(e.stack); process.exit(1); });`;
    const out = JSON.parse(runAsUser(script));
    assert.equal(out.root.filter((n: string) => n !== '.' && n !== '..'), ['a.txt', 'd', 'dir', 'ro.txt', 'ww.txt']);
    assert.equal(out.sub.filter((n: string) => n !== '.' && n !== '..'), []);
    for (const [dir, name] of [['', 'gone.txt'], ['dir/sub', 'f']]) {
      const p = path.join(s.upper, dir, name);
      const st = fs.lstatSync(p);
      assert.ok(st.isFile() && st.size === 0, `${p}: a zero-size file`);
      assert.ok(sys.getxattrat(sys.AT.FDCWD, p, 'user.overlay.whiteout') !== null, `${p}: user.overlay.whiteout`);
      assert.is(sys.getxattrat(sys.AT.FDCWD, path.join(s.upper, dir), 'user.overlay.opaque')?.toString(), 'x');
    }
    // The kernel honours xattr whiteouts in lower layers only ("xwhiteouts"), not in its upper: the
    // upper is read here as the top lower layer (as an image layer made from it would be).
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${s.upper}:${s.lower},userxattr`, s.kmnt]);
    try {
      assert.equal(fs.readdirSync(s.kmnt).sort(), ['a.txt', 'd', 'dir', 'ro.txt', 'ww.txt']);
      assert.equal(fs.readdirSync(path.join(s.kmnt, 'dir/sub')), []);
      assert.is(fs.readFileSync(path.join(s.kmnt, 'a.txt'), 'utf8'), 'changed\n');
    } finally {
      forceUnmount(s.kmnt);
    }
  } finally {
    forceUnmount(s.kmnt);
    fs.rmSync(s.base, { recursive: true, force: true });
  }
});

test.run();
