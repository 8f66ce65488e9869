import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys } from './helpers';
import { testIf, unless } from '../helpers/skip';

const { AT, O, S, RENAME } = sys;

function read(dfd: number, p: string): string {
  const fd = sys.openat(dfd, p, O.RDONLY);
  try {
    const b = Buffer.alloc(1024);
    return b.subarray(0, sys.pread(fd, b, 0, b.length, 0)).toString();
  } finally { sys.close(fd); }
}

test('openat creates, reads back, fds are close-on-exec', () =>
  withTmp((dir, dfd) => {
    const fd = sys.openat(dfd, 'f', O.CREAT | O.EXCL | O.WRONLY, 0o640);
    try {
      assert.is(sys.pwrite(fd, Buffer.from('abc'), 0, 3, 0), 3);
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      const flags = parseInt(/flags:\s*([0-7]+)/.exec(info)![1], 8);
      assert.ok(flags & O.CLOEXEC, 'O_CLOEXEC set');
    } finally { sys.close(fd); }
    assert.is(read(dfd, 'f'), 'abc');
    assert.is(fs.statSync(path.join(dir, 'f')).mode & 0o777, 0o640 & ~process.umask());
    throwsSys(() => sys.openat(dfd, 'f', O.CREAT | O.EXCL | O.WRONLY, 0o600), 'EEXIST', 'openat');
  }));

test('openat2 with RESOLVE flags', () =>
  withTmp((dir, dfd) => {
    fs.mkdirSync(path.join(dir, 'd'));
    fs.symlinkSync('d', path.join(dir, 'l'));
    const fd = sys.openat2(dfd, 'd', O.PATH | O.DIRECTORY, 0, sys.RESOLVE.BENEATH);
    sys.close(fd);
    throwsSys(() => sys.openat2(dfd, 'l', O.PATH, 0, sys.RESOLVE.NO_SYMLINKS), 'ELOOP', 'openat2');
  }));

test('mkdirat, symlinkat/readlinkat (incl. a long target), unlinkat', () =>
  withTmp((dir, dfd) => {
    sys.mkdirat(dfd, 'd', 0o755);
    assert.is(sys.statx(dfd, 'd').mode & S.IFMT, S.IFDIR);
    sys.symlinkat('some/target', dfd, 'l');
    assert.is(sys.readlinkat(dfd, 'l'), 'some/target');
    const long = 'x/'.repeat(1500) + 'end'; // > the 1 KiB first buffer
    sys.symlinkat(long, dfd, 'long');
    assert.is(sys.readlinkat(dfd, 'long'), long);
    sys.symlinkat('ünïcødé→', dfd, 'u');
    assert.is(sys.readlinkat(dfd, 'u'), 'ünïcødé→');
    // readlinkat on an O_PATH fd of the link with ''
    const fd = sys.openat(dfd, 'l', O.PATH | O.NOFOLLOW);
    try { assert.is(sys.readlinkat(fd, ''), 'some/target'); } finally { sys.close(fd); }
    throwsSys(() => sys.readlinkat(dfd, 'd'), 'EINVAL', 'readlinkat');
    throwsSys(() => sys.unlinkat(dfd, 'd'), ['EISDIR', 'EPERM']);
    sys.unlinkat(dfd, 'd', AT.REMOVEDIR);
    sys.unlinkat(dfd, 'l');
    assert.is(sys.tryStatx(dfd, 'd'), null);
    assert.is(sys.tryStatx(dfd, 'l'), null);
  }));

test('linkat hard link and AT_EMPTY_PATH of an O_TMPFILE', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'data');
    sys.linkat(dfd, 'f', dfd, 'g');
    assert.is(sys.statx(dfd, 'f').nlink, 2);
    assert.is(sys.statx(dfd, 'f').ino, sys.statx(dfd, 'g').ino);

    const tfd = sys.openat(dfd, '.', O.TMPFILE | O.RDWR, 0o600);
    try {
      sys.pwrite(tfd, Buffer.from('tmpfile!'), 0, 8, 0);
      assert.is(sys.fstat(tfd).nlink, 0);
      sys.linkat(tfd, '', dfd, 'named', AT.EMPTY_PATH);
      assert.is(sys.fstat(tfd).nlink, 1);
    } finally { sys.close(tfd); }
    assert.is(fs.readFileSync(path.join(dir, 'named'), 'utf8'), 'tmpfile!');
    throwsSys(() => sys.linkat(dfd, 'f', dfd, 'g'), 'EEXIST', 'linkat');
  }));

test('renameat2: plain, NOREPLACE -> EEXIST, EXCHANGE swaps', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    fs.writeFileSync(path.join(dir, 'b'), 'B');
    const e = throwsSys(() => sys.renameat2(dfd, 'a', dfd, 'b', RENAME.NOREPLACE), 'EEXIST', 'renameat2');
    assert.is(e.path, 'a');
    assert.is(e.dest, 'b');
    assert.is(read(dfd, 'a'), 'A');
    sys.renameat2(dfd, 'a', dfd, 'b', RENAME.EXCHANGE);
    assert.is(read(dfd, 'a'), 'B');
    assert.is(read(dfd, 'b'), 'A');
    fs.mkdirSync(path.join(dir, 'd'));
    sys.renameat2(dfd, 'd', dfd, 'a', RENAME.EXCHANGE); // dir <-> file
    assert.is(sys.statx(dfd, 'a').mode & S.IFMT, S.IFDIR);
    assert.is(read(dfd, 'd'), 'B');
    sys.renameat2(dfd, 'd', dfd, 'c', RENAME.NOREPLACE);
    assert.is(read(dfd, 'c'), 'B');
    throwsSys(() => sys.renameat2(dfd, 'missing', dfd, 'x', RENAME.EXCHANGE), 'ENOENT');
  }));

/** RENAME_WHITEOUT needs CAP_MKNOD and a filesystem that has it: probed once, in the temp dir. */
function whiteoutRefused(): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-sys-'));
  try {
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    sys.renameat2(AT.FDCWD, path.join(dir, 'a'), AT.FDCWD, path.join(dir, 'b'), RENAME.WHITEOUT);
    return null;
  } catch (e) {
    if (e instanceof sys.SysError && ['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM'].includes(e.code)) return `needs RENAME_WHITEOUT in ${os.tmpdir()} (${e.code})`;
    throw e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

testIf(test, unless('rename-whiteout', whiteoutRefused()))('renameat2 RENAME_WHITEOUT leaves a 0/0 char device', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'a'), 'A');
    sys.renameat2(dfd, 'a', dfd, 'b', RENAME.WHITEOUT);
    const st = sys.statx(dfd, 'a');
    assert.is(st.mode & S.IFMT, S.IFCHR);
    assert.equal([st.rdevMajor, st.rdevMinor], [0, 0]);
    assert.is(read(dfd, 'b'), 'A');
  }));

test('fchmodat/fchownat (NOFOLLOW on a symlink), fchmod/fchown on fds', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    fs.symlinkSync('f', path.join(dir, 'l'));
    sys.fchmodat(dfd, 'f', 0o4751);
    assert.is(sys.statx(dfd, 'f').mode & 0o7777, 0o4751);
    sys.fchownat(dfd, 'l', 1234, 5678); // default AT_SYMLINK_NOFOLLOW
    const l = sys.statx(dfd, 'l');
    const f = sys.statx(dfd, 'f');
    assert.equal([l.uid, l.gid], [1234, 5678]);
    assert.equal([f.uid, f.gid], [0, 0]);
    const fd = sys.openat(dfd, 'f', O.RDONLY);
    try {
      sys.fchown(fd, 42, 43);
      sys.fchmod(fd, 0o600);
      const st = sys.fstat(fd);
      assert.equal([st.uid, st.gid, st.mode & 0o7777], [42, 43, 0o600]);
    } finally { sys.close(fd); }
  }));

test('errors carry code/errno/syscall/path and a Node-like message', () =>
  withTmp((_dir, dfd) => {
    const e = throwsSys(() => sys.openat(dfd, 'a/b', O.RDONLY), 'ENOENT', 'openat');
    assert.is(e.errno, 2);
    assert.is(e.path, 'a/b');
    assert.is(e.message, "ENOENT: no such file or directory, openat 'a/b'");
    assert.instance(e, Error);
    const c = throwsSys(() => sys.close(-5), 'EBADF', 'close');
    assert.is(c.path, undefined);
    assert.is(c.message, 'EBADF: bad file descriptor, close');
    // a message for an errno libuv has no entry for comes from strerror
    const x = new sys.SysError(61, 'getxattrat', 'p');
    assert.is(x.code, 'ENODATA');
    assert.ok(/^ENODATA: .+, getxattrat 'p'$/.test(x.message), x.message);
    // embedded NUL in a path is EINVAL, not a silent truncation
    throwsSys(() => sys.openat(dfd, 'a\0b', O.RDONLY), 'EINVAL');
  }));

test.run();
