/**
 * The fuse-native transport's own behaviour (lib/fuse-native): what its adapter does about
 * fuse-native 2.2.6's defects, and what it cannot (skipped by name, listed in docs/transports.md).
 * The shared mount suites run through it with LAYERFS_TEST_TRANSPORT=fuse-native (test/mount).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, fork, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { mount } from '../../lib/mount';
import { MISSING } from '../../lib/fuse-native/load';
import { parseMountArgs } from '../../lib/cli/options';
import { LayerSpec, makeLayerSet, removeTree, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, mountsUnder, py, sh, withLayerfs } from '../helpers/layerfs-mount';
import { trackMount, untrackMount } from '../helpers/mounts';
import { nativePatched } from '../helpers/transport';

/** fuse-native built with layerfs' patch (scripts/build-fuse-native.js); else the stock prebuild. */
const PATCHED = nativePatched();
const BUILD = PATCHED ? '[patched build]' : '[stock build]';

const LABEL = 'layerfs-fnative-';
const PREFIX = path.join(os.tmpdir(), LABEL);

const STACK: LayerSpec[] = [
  { 'etc/hosts': { type: 'file', content: '127.0.0.1 localhost\n', mode: 0o644 } },
  { 'data/old': { type: 'file', content: 'old\n', mode: 0o644 }, 'pub': { type: 'dir', mode: 0o1777 } },
];

async function withNative(fn: (mp: string, m: import('../../lib/mount').MountHandle) => Promise<void>): Promise<void> {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  try {
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), transport: 'fuse-native' }, (m) => fn(m.mountpoint, m));
  } finally {
    set.remove();
  }
}

test('a bug in the engine answers EIO, and the mount stays up; an operation slower than fuse-native\'s 15 s timeout completes', async () => {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  const mp = path.join(set.base, 'mnt');
  fs.mkdirSync(mp);
  let child: ChildProcess | null = null;
  try {
    child = fork(path.join(__dirname, 'faulty-server.js'), [set.lower[0], set.upper!, set.work!, mp, '16000'], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child!.once('message', () => resolve());
      child!.once('exit', (code) => reject(new Error(`faulty server exited ${code}: ${stderr}`)));
    });
    trackMount(mp);
    const boom = await sh(`stat '${mp}/boom'`);
    assert.is(boom.code, 1);
    assert.match(boom.err, /Input\/output error/);
    assert.match(stderr, /TypeError: a bug in the engine/, 'the bug is logged');
    assert.is(fs.readFileSync(path.join(mp, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n', 'the mount is alive');
    const t0 = Date.now();
    const slow = await sh(`mkdir '${mp}/slow'`, 60000);
    assert.is(slow.code, 0, `mkdir after 16 s: ${slow.err}`);
    assert.ok(Date.now() - t0 >= 15500, 'it did take longer than the default timeout');
    assert.ok(fs.statSync(path.join(mp, 'slow')).isDirectory());
  } finally {
    if (child !== null && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.disconnect();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (mountsUnder(mp).includes(mp)) execFileSync('umount', ['-l', mp]);
    untrackMount(mp);
    set.remove();
  }
});

test('writes arrive 128 KiB at a time (big_writes, max_write passed through to libfuse 2)', () =>
  withNative(async (mp, m) => {
    await sh(`dd if=/dev/zero of='${mp}/big' bs=1M count=4 2>/dev/null`);
    assert.is(fs.statSync(path.join(mp, 'big')).size, 4 << 20);
    const s = await m.stats();
    assert.ok(s.requests.write <= 40, `4 MiB in ${s.requests.write} writes (4 KiB pieces would be 1024)`);
  }));

test(`utimes sets atime to the millisecond (libfuse 2 resolves "now") ${BUILD}`, () =>
  withNative(async (mp) => {
    const f = path.join(mp, 'data/old');
    await sh(`touch -d '2001-02-03 04:05:06.789' '${f}'`);
    const st = fs.statSync(f, { bigint: true });
    assert.is(st.atimeNs / 1_000_000n, BigInt(new Date(2001, 1, 3, 4, 5, 6, 789).getTime())); // touch -d reads local time
  }));

const patchedOnly = (why: string) => (PATCHED ? test : (name: string, fn: () => unknown) => test.skip(`${name} (stock fuse-native 2.2.6: ${why}; scripts/build-fuse-native.js builds the patched one; docs/transports.md)`, fn as () => Promise<void>));

patchedOnly('it passes atime twice and never mtime, and libfuse 2 drops a lone atime or mtime')(
  'touch -m, touch -a and utimes set each time on its own, to the nanosecond', () =>
    withNative(async (mp) => {
      const f = path.join(mp, 'data/old');
      const before = fs.statSync(f, { bigint: true });
      await sh(`touch -m -d '2001-01-01 00:00:00.123456789 UTC' '${f}'`);
      let st = fs.statSync(f, { bigint: true });
      assert.is(st.mtimeNs, 978307200_123456789n);
      assert.is(st.atimeNs, before.atimeNs, 'touch -m leaves atime');
      await sh(`touch -a -d '2002-02-02 00:00:00.5 UTC' '${f}'`);
      st = fs.statSync(f, { bigint: true });
      assert.is(st.atimeNs, 1012608000_500000000n);
      assert.is(st.mtimeNs, 978307200_123456789n, 'touch -a leaves mtime');
      const t0 = BigInt(Date.now() - 2000) * 1_000_000n;
      await sh(`touch '${f}'`);
      st = fs.statSync(f, { bigint: true });
      assert.ok(st.mtimeNs > t0 && st.atimeNs > t0, 'touch: both now');
      assert.is(fs.statSync(path.join(path.dirname(mp), 'upper', 'data/old'), { bigint: true }).mtimeNs, st.mtimeNs, 'stored in the upper layer');
    }));

patchedOnly('it passes no caller uid/gid: created files belong to the server\'s user')(
  'a file, directory, symlink and fifo made by a non-root caller belong to that caller', () =>
    withNative(async (mp) => {
      fs.chmodSync(path.dirname(mp), 0o711); // (a mkdtemp dir: the caller must get through it)
      const r = await sh(`setpriv --reuid=1234 --regid=2345 --clear-groups sh -c 'echo x > ${mp}/pub/f && mkdir ${mp}/pub/d && ln -s f ${mp}/pub/l && mkfifo ${mp}/pub/p'`);
      assert.is(r.code, 0, r.err);
      for (const n of ['f', 'd', 'l', 'p']) {
        const st = fs.lstatSync(path.join(mp, 'pub', n));
        assert.equal([st.uid, st.gid], [1234, 2345], n);
      }
    }));

test('renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE answers EINVAL and changes nothing (libfuse 2 has no rename flags; docs/transports.md)', () =>
  withNative(async (mp) => {
    const a = path.join(mp, 'pub', 'a'), b = path.join(mp, 'pub', 'b');
    fs.writeFileSync(a, 'a');
    fs.writeFileSync(b, 'b');
    for (const [flags, to] of [[sys.RENAME.NOREPLACE, path.join(mp, 'pub', 'fresh')], [sys.RENAME.EXCHANGE, b]] as const) {
      let code: string | undefined;
      try {
        sys.renameat2(sys.AT.FDCWD, a, sys.AT.FDCWD, to, flags);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      assert.is(code, 'EINVAL', `flags ${flags}`);
    }
    assert.equal([fs.readFileSync(a, 'utf8'), fs.readFileSync(b, 'utf8'), fs.existsSync(path.join(mp, 'pub', 'fresh'))], ['a', 'b', false]);
  }));

test('xattr sizes are exact: a size query gives the list\'s length, a short buffer ERANGE', () =>
  withNative(async (mp) => {
    const f = path.join(mp, 'etc/hosts');
    fs.writeFileSync(path.join(mp, 'x'), '');
    const out = await py(
      [
        'import ctypes, os, sys',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'f = sys.argv[1].encode(); e = sys.argv[2].encode()',
        'os.setxattr(sys.argv[1], "user.k", b"value")',
        'print(libc.listxattr(e, None, 0))',
        'print(libc.listxattr(f, None, 0))',
        'buf = ctypes.create_string_buffer(2)',
        'print(libc.getxattr(f, b"user.k", buf, 2), ctypes.get_errno())',
        'print(libc.getxattr(f, b"user.k", None, 0))',
      ].join('\n'),
      [f, path.join(mp, 'x')],
    );
    assert.equal(out.trim().split('\n'), ['0', String('user.k\0'.length), '-1 34', '5']);
  }));

test('options libfuse 2 cannot honour are refused with a precise message, before anything starts', async () => {
  const base = { lower: ['/nonexistent'], mountpoint: '/nonexistent', transport: 'fuse-native' as const };
  for (const [extra, option] of [[{ passthrough: true }, 'passthrough'], [{ opens: 'kernel' }, 'opens'], [{ posixAcl: true }, 'posixAcl'], [{ writeback: true }, 'writeback'], [{ xattrPermissions: 2 }, 'xattrPermissions']] as const) {
    const err = await mount({ ...base, ...extra } as never).then(() => null, (e: { code?: string; option?: string; message: string }) => e);
    assert.ok(err !== null);
    assert.is(err!.option, option, err!.message);
    assert.match(err!.message, /transport fuse-native/);
  }
  const bad = await mount({ ...base, transport: 'fuse3' as never }).then(() => null, (e: { option?: string; message: string }) => e);
  assert.is(bad?.message, 'transport must be \'fuse\' or \'fuse-native\', got "fuse3"');
});

test('without fuse-native: one line saying how to enable it', async () => {
  // a process in which the package cannot be found
  const hide = path.join(tempDir(LABEL), 'hide.js');
  fs.writeFileSync(hide, `const M = require('module'); const r = M._resolveFilename; M._resolveFilename = function (req, ...a) { if (req === 'fuse-native') { const e = new Error("Cannot find module 'fuse-native'"); e.code = 'MODULE_NOT_FOUND'; throw e; } return r.call(this, req, ...a); };`);
  const script = `require(${JSON.stringify(path.join(__dirname, '../../lib/mount'))}).mount({ lower: ['/'], mountpoint: '/tmp', transport: 'fuse-native' }).then(() => console.log('mounted?'), (e) => console.log(e.code + ' ' + e.message))`;
  const out = execFileSync(process.execPath, ['-r', hide, '-e', script], { encoding: 'utf8' }).trim();
  assert.is(out, `ENOPKG ${MISSING}`);
  assert.is(MISSING.split('\n').length, 1);
});

test('-o transport=fuse-native on the command line', () => {
  assert.is(parseMountArgs(['-o', 'lowerdir=/a,transport=fuse-native', '/m']).transport, 'fuse-native');
  assert.is(parseMountArgs(['-o', 'lowerdir=/a', '/m']).transport, undefined);
  assert.throws(() => parseMountArgs(['-o', 'lowerdir=/a,transport=libfuse', '/m']), /transport=libfuse: expected fuse or fuse-native/);
});

test('a server that dies leaves no dead mount: unmount() resolves and the mountpoint is free again', () =>
  withNative(async (mp, m) => {
    fs.readdirSync(mp);
    // this process' child serving the mount (fuse-native/child.js)
    const pids = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n').filter((l) => l.includes('fuse-native/child.js')).map((l) => Number(l.trim().split(' ')[0]));
    assert.is(pids.length, 1, 'one server process');
    process.kill(pids[0], 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    assert.not.ok(mountsUnder(mp).includes(mp), 'the dead mount is detached');
    await m.unmount();
  }));

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
  for (const d of fs.readdirSync(os.tmpdir())) if (d.startsWith(LABEL)) removeTree(path.join(os.tmpdir(), d));
});

test.run();
