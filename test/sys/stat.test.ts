import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys } from './helpers';

const { AT, O, S, UTIME } = sys;

test('statx matches lstat for a regular file and reports ns times, btime, mntId', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'hello');
    const st = sys.statx(dfd, 'f');
    const ref = fs.lstatSync(path.join(dir, 'f'), { bigint: true });
    assert.is(st.mode & S.IFMT, S.IFREG);
    assert.is(st.size, 5);
    assert.is(BigInt(st.ino), ref.ino);
    assert.is(BigInt(st.dev), ref.dev);
    assert.is(st.nlink, 1);
    assert.is(BigInt(st.mtimeSec) * 1000000000n + BigInt(st.mtimeNsec), ref.mtimeNs);
    assert.is(BigInt(st.ctimeSec) * 1000000000n + BigInt(st.ctimeNsec), ref.ctimeNs);
    assert.is(st.dev, sys.makedev(st.devMajor, st.devMinor));
    assert.ok(st.mntId > 0, 'mntId from statx');
    assert.ok(st.btimeSec > 0, 'btime on ext4/tmpfs');
    assert.ok(st.blksize > 0);
  }));

test('statx does not follow a final symlink by default; follows with flags 0', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    fs.symlinkSync('f', path.join(dir, 'l'));
    assert.is(sys.statx(dfd, 'l').mode & S.IFMT, S.IFLNK);
    assert.is(sys.statx(dfd, 'l').size, 1);
    assert.is(sys.statx(dfd, 'l', 0).mode & S.IFMT, S.IFREG);
  }));

test('tryStatx: null for ENOENT/ENOTDIR, throws others', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    assert.is(sys.tryStatx(dfd, 'missing'), null);
    assert.is(sys.tryStatx(dfd, 'f/below'), null);
    assert.ok(sys.tryStatx(dfd, 'f'));
    const e = throwsSys(() => sys.tryStatx(987654, 'x'), 'EBADF', 'statx');
    assert.is(e.path, 'x');
  }));

test('fstat on fds, including an O_PATH|O_NOFOLLOW fd of a symlink', () =>
  withTmp((dir, dfd) => {
    fs.symlinkSync('nowhere', path.join(dir, 'l'));
    const fd = sys.openat(dfd, 'l', O.PATH | O.NOFOLLOW);
    try {
      const st = sys.fstat(fd);
      assert.is(st.mode & S.IFMT, S.IFLNK);
      assert.is(st.size, 'nowhere'.length);
    } finally { sys.close(fd); }
    assert.is(sys.fstat(dfd).mode & S.IFMT, S.IFDIR);
  }));

test('utimensat: ns times round-trip, UTIME_OMIT keeps, UTIME_NOW sets now', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    sys.utimensat(dfd, 'f', 1234567890, 123456789, 1600000000, 987654321);
    let st = sys.statx(dfd, 'f');
    assert.equal([st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec], [1234567890, 123456789, 1600000000, 987654321]);
    // atime changes, mtime omitted -> kept
    sys.utimensat(dfd, 'f', 1000, 1, 0, UTIME.OMIT);
    st = sys.statx(dfd, 'f');
    assert.equal([st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec], [1000, 1, 1600000000, 987654321]);
    const before = Math.floor(Date.now() / 1000) - 1;
    sys.utimensat(dfd, 'f', 0, UTIME.OMIT, 0, UTIME.NOW);
    st = sys.statx(dfd, 'f');
    assert.equal([st.atimeSec, st.atimeNsec], [1000, 1]);
    assert.ok(st.mtimeSec >= before && st.mtimeSec <= before + 5);
    // negative (pre-1970) seconds work too
    sys.utimensat(dfd, 'f', -100, 5, -200, 7);
    st = sys.statx(dfd, 'f');
    assert.equal([st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec], [-100, 5, -200, 7]);
  }));

test('utimensat on a symlink changes the link, not its target; AT_EMPTY_PATH on an fd', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    fs.symlinkSync('f', path.join(dir, 'l'));
    sys.utimensat(dfd, 'f', 10, 10, 20, 20);
    sys.utimensat(dfd, 'l', 111, 222, 333, 444);
    const l = sys.statx(dfd, 'l');
    const f = sys.statx(dfd, 'f');
    assert.equal([l.atimeSec, l.atimeNsec, l.mtimeSec, l.mtimeNsec], [111, 222, 333, 444]);
    assert.equal([f.atimeSec, f.atimeNsec, f.mtimeSec, f.mtimeNsec], [10, 10, 20, 20]);
    // UTIME_OMIT on a symlink keeps the old value
    sys.utimensat(dfd, 'l', 5, 6, 0, UTIME.OMIT);
    const l2 = sys.statx(dfd, 'l');
    assert.equal([l2.atimeSec, l2.atimeNsec, l2.mtimeSec, l2.mtimeNsec], [5, 6, 333, 444]);
    // via an O_PATH fd of the symlink
    const fd = sys.openat(dfd, 'l', O.PATH | O.NOFOLLOW);
    try {
      sys.utimensat(fd, '', 7, 8, 9, 10, AT.EMPTY_PATH);
      const l3 = sys.fstat(fd);
      assert.equal([l3.atimeSec, l3.atimeNsec, l3.mtimeSec, l3.mtimeNsec], [7, 8, 9, 10]);
    } finally { sys.close(fd); }
    assert.is(sys.statx(dfd, 'f').mtimeSec, 20);
  }));

test('makedev/major/minor round-trip (including large numbers)', () => {
  for (const [ma, mi] of [[0, 0], [1, 3], [8, 1], [259, 65536], [4095, 1048575], [0x12345, 0xabcdef]]) {
    const d = sys.makedev(ma, mi);
    assert.is(sys.major(d), ma);
    assert.is(sys.minor(d), mi);
  }
  assert.is(sys.makedev(1, 3), 259);
});

test('mknodat 0/0 char device (whiteout shape) and rdev fields', () =>
  withTmp((dir, dfd) => {
    sys.mknodat(dfd, 'wh', S.IFCHR | 0o000, sys.makedev(0, 0));
    let st = sys.statx(dfd, 'wh');
    assert.is(st.mode & S.IFMT, S.IFCHR);
    assert.equal([st.rdev, st.rdevMajor, st.rdevMinor], [0, 0, 0]);
    sys.mknodat(dfd, 'null', S.IFCHR | 0o666, sys.makedev(1, 3));
    st = sys.statx(dfd, 'null');
    assert.equal([st.rdevMajor, st.rdevMinor, st.rdev], [1, 3, sys.makedev(1, 3)]);
    assert.is(st.mode & 0o7777, 0o666 & ~process.umask());
  }));

test('wrong argument types throw TypeError from C', () => {
  assert.throws(() => sys.statx('x' as unknown as number, 'a'), (e: Error) => e instanceof TypeError);
  assert.throws(() => sys.statx(AT.FDCWD, 5 as unknown as string), (e: Error) => e instanceof TypeError);
});

test.run();
