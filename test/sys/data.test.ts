import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys, rejectsSys, fsTypeOf } from './helpers';

const { O, SEEK, FALLOC } = sys;
const MiB = 1024 * 1024;
const K64 = 64 * 1024;

/** list [start, end) data segments with SEEK_DATA/SEEK_HOLE */
function dataSegments(fd: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  while (pos < size) {
    let start: number;
    try {
      start = sys.lseek(fd, pos, SEEK.DATA);
    } catch (e) {
      if (e instanceof sys.SysError && e.code === 'ENXIO') break;
      throw e;
    }
    const end = sys.lseek(fd, start, SEEK.HOLE);
    out.push([start, end]);
    pos = end;
  }
  return out;
}

test('copy_file_range of data segments keeps holes (SEEK_DATA/SEEK_HOLE on a sparse file)', () =>
  withTmp((dir, dfd) => {
    const src = sys.openat(dfd, 'sparse', O.CREAT | O.RDWR, 0o644);
    const dst = sys.openat(dfd, 'copy', O.CREAT | O.RDWR, 0o644);
    try {
      sys.ftruncate(src, 4 * MiB);
      sys.pwrite(src, Buffer.alloc(K64, 'A'), 0, K64, 1 * MiB);
      sys.pwrite(src, Buffer.alloc(K64, 'B'), 0, K64, 3 * MiB);
      sys.fsync(src);
      const segs = dataSegments(src, 4 * MiB);
      assert.equal(segs, [[1 * MiB, 1 * MiB + K64], [3 * MiB, 3 * MiB + K64]]);
      throwsSys(() => sys.lseek(src, 3 * MiB + K64, SEEK.DATA), 'ENXIO', 'lseek');

      sys.ftruncate(dst, 4 * MiB);
      for (const [s, e] of segs) {
        let off = s;
        while (off < e) {
          const n = sys.copyFileRange(src, off, dst, off, e - off);
          assert.ok(n > 0);
          off += n;
        }
      }
      sys.fsync(dst);
      assert.equal(dataSegments(dst, 4 * MiB), segs);
      const st = sys.fstat(dst);
      assert.is(st.size, 4 * MiB);
      assert.ok(st.blocks * 512 <= 2 * K64 + 64 * 1024, `holes kept (blocks=${st.blocks})`);
      assert.equal(fs.readFileSync(path.join(dir, 'copy')), fs.readFileSync(path.join(dir, 'sparse')));
    } finally { sys.close(src); sys.close(dst); }
  }));

test('copy_file_range with null offsets uses and advances the file offsets; async form', () =>
  withTmp(async (dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'in'), 'hello world');
    const i = sys.openat(dfd, 'in', O.RDONLY);
    const o = sys.openat(dfd, 'out', O.CREAT | O.WRONLY, 0o644);
    try {
      assert.is(sys.copyFileRange(i, null, o, null, 5), 5);
      assert.is(sys.lseek(i, 0, SEEK.CUR), 5);
      assert.is(sys.lseek(o, 0, SEEK.CUR), 5);
      assert.is(await sys.copyFileRangeAsync(i, 5, o, 5, 100), 6);
      assert.is(sys.copyFileRange(i, 11, o, 11, 100), 0); // EOF
      assert.is(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'hello world');
      await rejectsSys(sys.copyFileRangeAsync(987654, 0, o, 0, 1), 'EBADF');
    } finally { sys.close(i); sys.close(o); }
  }));

test('fallocate PUNCH_HOLE|KEEP_SIZE makes a hole; fallocateAsync allocates', () =>
  withTmp(async (dir, dfd) => {
    const fd = sys.openat(dfd, 'f', O.CREAT | O.RDWR, 0o644);
    try {
      sys.pwrite(fd, Buffer.alloc(MiB, 'x'), 0, MiB, 0);
      sys.fsync(fd);
      assert.equal(dataSegments(fd, MiB), [[0, MiB]]);
      sys.fallocate(fd, FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, 256 * 1024, 256 * 1024);
      assert.is(sys.fstat(fd).size, MiB);
      assert.is(sys.lseek(fd, 0, SEEK.HOLE), 256 * 1024);
      assert.is(sys.lseek(fd, 256 * 1024, SEEK.DATA), 512 * 1024);
      const b = Buffer.alloc(256 * 1024, 1);
      sys.pread(fd, b, 0, b.length, 256 * 1024);
      assert.ok(b.every((x) => x === 0));
      await sys.fallocateAsync(fd, 0, 0, 4 * MiB);
      assert.is(sys.fstat(fd).size, 4 * MiB);
      await rejectsSys(sys.fallocateAsync(fd, FALLOC.PUNCH_HOLE, 0, 10), 'EOPNOTSUPP'); // needs KEEP_SIZE
    } catch (e) {
      throw e;
    } finally { sys.close(fd); }
  }));

test('fsync/fdatasync/syncfs sync and async; errors reject with SysError', () =>
  withTmp(async (dir, dfd) => {
    const fd = sys.openat(dfd, 'f', O.CREAT | O.RDWR, 0o644);
    try {
      sys.pwrite(fd, Buffer.from('x'), 0, 1, 0);
      sys.fsync(fd);
      sys.fdatasync(fd);
      sys.syncfs(fd);
      await sys.fsyncAsync(fd);
      await sys.fdatasyncAsync(fd);
      await sys.syncfsAsync(fd);
      await Promise.all(Array.from({ length: 16 }, () => sys.fsyncAsync(fd)));
    } finally { sys.close(fd); }
    const e = await rejectsSys(sys.fsyncAsync(987654), 'EBADF');
    assert.is(e.syscall, 'fsync');
    assert.is(e.errno, 9);
  }));

test('createFilesAsync: empty files, open read-write, mode as asked; stops at the first failure', () =>
  withTmp(async (dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'p.2'), 'taken');
    fs.symlinkSync('/etc/passwd', path.join(dir, 'q.0'));
    const fds = await sys.createFilesAsync(dfd, 'p.', 5, 0o600);
    assert.is(fds.length, 5);
    assert.ok(fds[0] >= 0 && fds[1] >= 0, 'the first two made');
    assert.equal(fds.slice(2), [-17, -125, -125], 'EEXIST, then ECANCELED for the rest');
    for (const fd of fds.slice(0, 2)) {
      const st = sys.fstat(fd);
      assert.is(st.mode & 0o7777, 0o600);
      assert.is(st.size, 0);
      assert.is(sys.pwrite(fd, Buffer.from('ab'), 0, 2, 0), 2);
      sys.close(fd);
    }
    assert.equal(fs.readdirSync(dir).sort(), ['p.0', 'p.1', 'p.2', 'q.0']);
    assert.is(fs.readFileSync(path.join(dir, 'p.2'), 'utf8'), 'taken');
    assert.equal(await sys.createFilesAsync(dfd, 'q.', 1, 0o600), [-17], 'a symlink is never followed');
    assert.is(fs.readFileSync('/etc/passwd', 'utf8').length > 0, true);
    assert.throws(() => sys.createFilesAsync(dfd, 'p.', 0, 0o600), /count/);
    assert.throws(() => sys.createFilesAsync(dfd, 'p.', 1, 0o600, new Uint8Array(4) as unknown as Int32Array), /Int32Array/);
    // Cancelled while running: it stops, and removes what it made before it resolves.
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const running = sys.createFilesAsync(dfd, 'c.', 4000, 0o600, cancel);
    await new Promise((res) => setTimeout(res, 5));
    Atomics.store(cancel, 0, 1);
    const got = await running;
    assert.ok(got.every((r) => r === -125), 'every slot says ECANCELED');
    assert.equal(fs.readdirSync(dir).filter((n) => n.startsWith('c.')), [], 'nothing left');
  }));

test('async jobs outlive the worker threads that started them: the process neither crashes nor hangs', () =>
  withTmp((dir) => {
    // Node destroys a worker's threadsafe functions when the worker ends, while our job threads may
    // still hold them: each worker here ends with fills, fsyncs and copies in flight.
    const lib = path.resolve(__dirname, '../../lib/sys');
    const program = `
      const { Worker } = require('worker_threads');
      const body = \`
        const sys = require(\${JSON.stringify(${JSON.stringify(lib)})});
        const { workerData: { dir, n } } = require('worker_threads');
        const d = sys.openat(sys.AT.FDCWD, dir, sys.O.RDONLY | sys.O.DIRECTORY);
        const f = sys.openat(d, 'data' + n, sys.O.CREAT | sys.O.RDWR, 0o644);
        sys.pwrite(f, Buffer.alloc(1 << 20, 1), 0, 1 << 20, 0);
        for (let i = 0; i < 20; i++) {
          void sys.createFilesAsync(d, 'w' + n + '-' + i + '-', 16, 0o600, new Int32Array(1));
          void sys.fsyncAsync(f).catch(() => {});
          void sys.copyFileRangeAsync(f, 0, f, 1 << 20, 1 << 20).catch(() => {});
        }
        process.exit(0);
      \`;
      let left = 40;
      for (let n = 0; n < 40; n++) {
        const w = new Worker(body, { eval: true, workerData: { dir: ${JSON.stringify(dir)}, n } });
        w.on('exit', () => { if (--left === 0) console.log('ok'); });
      }`;
    const child = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8', timeout: 60_000 });
    assert.is(child.signal, null, `the process died of ${child.signal}: ${child.stderr}`);
    assert.is(child.status, 0, child.stderr);
    assert.is(child.stdout.trim(), 'ok');
  }));

test('ficlone: works where reflinks exist, clean SysError where not', () =>
  withTmp(async (dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'src'), Buffer.alloc(K64, 'c'));
    const s = sys.openat(dfd, 'src', O.RDONLY);
    const d = sys.openat(dfd, 'dst', O.CREAT | O.WRONLY, 0o644);
    try {
      let ok = true;
      try { sys.ficlone(d, s); } catch (e) {
        assert.instance(e, sys.SysError);
        assert.ok(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOTTY'].includes((e as sys.SysError).code));
        assert.is((e as sys.SysError).syscall, 'ioctl_ficlone');
        ok = false;
      }
      if (ok) {
        assert.equal(fs.readFileSync(path.join(dir, 'dst')), fs.readFileSync(path.join(dir, 'src')));
        await sys.ficloneAsync(d, s);
        sys.ficloneRange(d, s, 0, K64, 0);
      } else {
        await sys.ficloneAsync(d, s).then(() => assert.unreachable('should fail like the sync form'), (e) => {
          assert.instance(e, sys.SysError);
        });
        throwsSys(() => sys.ficloneRange(d, s, 0, K64, 0), ['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOTTY']);
      }
    } finally { sys.close(s); sys.close(d); }
  }));

test('fstatfs and ftruncate', () =>
  withTmp((dir, dfd) => {
    const fd = sys.openat(dfd, 'f', O.CREAT | O.RDWR, 0o644);
    try {
      const sf = sys.fstatfs(fd);
      assert.is(sf.namelen, 255);
      assert.ok(sf.bsize > 0 && sf.blocks > 0 && sf.frsize > 0);
      if (fsTypeOf(dir) === 'ext4') assert.is(sf.type, 0xef53);
      if (fsTypeOf(dir) === 'tmpfs') assert.is(sf.type, 0x01021994);
      sys.ftruncate(fd, 12345);
      assert.is(sys.fstat(fd).size, 12345);
      throwsSys(() => sys.ftruncate(fd, -1), 'EINVAL', 'ftruncate');
    } finally { sys.close(fd); }
    throwsSys(() => sys.pread(987654, Buffer.alloc(1), 0, 1, 0), 'EBADF');
  }));

test('flock: a second open file is refused while the lock is held; a SIGKILLed holder leaves no stale lock', () =>
  withTmp(async (dir) => {
    const file = path.join(dir, 'lock');
    fs.writeFileSync(file, '');
    const a = sys.openat(sys.AT.FDCWD, file, O.RDWR);
    const b = sys.openat(sys.AT.FDCWD, file, O.RDWR);
    try {
      assert.ok(sys.tryFlock(a, sys.LOCK.EX), 'first lock taken');
      assert.not.ok(sys.tryFlock(b, sys.LOCK.EX), 'second open file refused');
      sys.unflock(a);
      assert.ok(sys.tryFlock(b, sys.LOCK.EX), 'free after unlock');
      sys.unflock(b);
      // A child takes the lock and is killed with SIGKILL: the kernel drops the lock with its fds.
      const { spawn } = await import('node:child_process');
      const child = spawn('flock', ['-x', file, 'sleep', '30'], { stdio: 'ignore' });
      const deadline = Date.now() + 5000;
      while (sys.tryFlock(a, sys.LOCK.EX)) {
        sys.unflock(a);
        assert.ok(Date.now() < deadline, 'the child never took the lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      const waiting = sys.flockAsync(b, sys.LOCK.EX);
      child.kill('SIGKILL');
      await waiting; // resolves once the kernel has dropped the dead holder's lock
      assert.not.ok(sys.tryFlock(a, sys.LOCK.EX), 'now held by b');
    } finally {
      sys.close(a);
      sys.close(b);
    }
  }));

test.run();
