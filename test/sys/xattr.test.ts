import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys, tmpfsBase } from './helpers';
import { testIf, unless } from '../helpers/skip';

const { O, XATTR } = sys;
const b = (s: string) => Buffer.from(s);

const modes: ('auto' | 'fallback')[] = ['auto', 'fallback'];

test('xattr *at syscalls are detected on this kernel', () => {
  assert.is(sys._xattrAtMode('auto'), 'syscall');
});

const TMPFS = tmpfsBase();
const noTmpfs = unless('tmpfs', TMPFS === null ? 'needs a writable tmpfs (/dev/shm or /run)' : null);

for (const mode of modes) {
  const t = (name: string, fn: () => unknown, skip: string | null = null) =>
    testIf(test, skip)(`[${mode}] ${name}`, async () => {
      sys._xattrAtMode(mode);
      try { await fn(); } finally { sys._xattrAtMode('auto'); }
    });

  t('user.* and trusted.* on a file: set/get/list/remove', () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      sys.setxattrat(dfd, 'f', 'user.a', b('1'));
      sys.setxattrat(dfd, 'f', 'trusted.overlay.opaque', b('y'));
      sys.setxattrat(dfd, 'f', 'user.empty', Buffer.alloc(0));
      assert.equal(sys.getxattrat(dfd, 'f', 'user.a'), b('1'));
      assert.equal(sys.getxattrat(dfd, 'f', 'trusted.overlay.opaque'), b('y'));
      assert.equal(sys.getxattrat(dfd, 'f', 'user.empty'), Buffer.alloc(0));
      assert.equal(sys.listxattrat(dfd, 'f').filter((n) => !n.startsWith('security.')).sort(),
        ['trusted.overlay.opaque', 'user.a', 'user.empty']);
      sys.removexattrat(dfd, 'f', 'user.a');
      assert.is(sys.getxattrat(dfd, 'f', 'user.a'), null);
      throwsSys(() => sys.removexattrat(dfd, 'f', 'user.a'), 'ENODATA', 'removexattrat');
    }));

  t('getxattrat null for a missing attribute; ENOENT for a missing file', () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      assert.is(sys.getxattrat(dfd, 'f', 'user.nope'), null);
      assert.is(sys.getxattrat(dfd, 'f', 'trusted.nope'), null);
      const e = throwsSys(() => sys.getxattrat(dfd, 'missing', 'user.a'), 'ENOENT', 'getxattrat');
      assert.is(e.path, 'missing');
    }));

  t('XATTR_CREATE on existing -> EEXIST, XATTR_REPLACE on missing -> ENODATA', () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      sys.setxattrat(dfd, 'f', 'user.k', b('v1'), XATTR.CREATE);
      throwsSys(() => sys.setxattrat(dfd, 'f', 'user.k', b('v2'), XATTR.CREATE), 'EEXIST', 'setxattrat');
      assert.equal(sys.getxattrat(dfd, 'f', 'user.k'), b('v1'));
      sys.setxattrat(dfd, 'f', 'user.k', b('v3'), XATTR.REPLACE);
      assert.equal(sys.getxattrat(dfd, 'f', 'user.k'), b('v3'));
      throwsSys(() => sys.setxattrat(dfd, 'f', 'user.other', b('v'), XATTR.REPLACE), 'ENODATA');
    }));

  t('symlinks are never followed: trusted.x on a link whose target has none', () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'target'), 'x');
      fs.symlinkSync('target', path.join(dir, 'l'));
      sys.setxattrat(dfd, 'l', 'trusted.x', b('on-link'));
      assert.equal(sys.getxattrat(dfd, 'l', 'trusted.x'), b('on-link'));
      assert.is(sys.getxattrat(dfd, 'target', 'trusted.x'), null);
      assert.ok(sys.listxattrat(dfd, 'l').includes('trusted.x'));
      assert.not.ok(sys.listxattrat(dfd, 'target').includes('trusted.x'));
      // user.* is not allowed on symlinks by the kernel: EPERM, and nothing lands on the target
      throwsSys(() => sys.setxattrat(dfd, 'l', 'user.y', b('1')), 'EPERM');
      assert.is(sys.getxattrat(dfd, 'target', 'user.y'), null);
      // a dangling link works the same
      fs.symlinkSync('nowhere', path.join(dir, 'dangling'));
      sys.setxattrat(dfd, 'dangling', 'trusted.d', b('1'));
      assert.equal(sys.getxattrat(dfd, 'dangling', 'trusted.d'), b('1'));
      sys.removexattrat(dfd, 'l', 'trusted.x');
      assert.is(sys.getxattrat(dfd, 'l', 'trusted.x'), null);
    }));

  t("path '' means dirfd itself, including an O_PATH|O_NOFOLLOW fd of a symlink", () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'target'), 'x');
      fs.symlinkSync('target', path.join(dir, 'l'));
      const lfd = sys.openat(dfd, 'l', O.PATH | O.NOFOLLOW);
      try {
        sys.setxattrat(lfd, '', 'trusted.via-fd', b('v'));
        assert.equal(sys.getxattrat(lfd, '', 'trusted.via-fd'), b('v'));
        assert.equal(sys.getxattrat(dfd, 'l', 'trusted.via-fd'), b('v'));
        assert.is(sys.getxattrat(dfd, 'target', 'trusted.via-fd'), null);
        assert.ok(sys.listxattrat(lfd, '').includes('trusted.via-fd'));
        sys.removexattrat(lfd, '', 'trusted.via-fd');
        assert.is(sys.getxattrat(dfd, 'l', 'trusted.via-fd'), null);
      } finally { sys.close(lfd); }
      // the O_PATH directory fd itself
      sys.setxattrat(dfd, '', 'user.dir', b('d'));
      assert.equal(sys.getxattrat(dfd, '', 'user.dir'), b('d'));
      assert.equal(fs.readdirSync(dir).sort(), ['l', 'target']);
      throwsSys(() => sys.getxattrat(987654, '', 'user.dir'), 'EBADF');
    }));

  t('multi-component paths and directories', () =>
    withTmp((dir, dfd) => {
      fs.mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'a', 'b', 'f'), 'x');
      fs.symlinkSync('f', path.join(dir, 'a', 'b', 'l'));
      sys.setxattrat(dfd, 'a/b/f', 'user.deep', b('1'));
      sys.setxattrat(dfd, 'a/b', 'trusted.overlay.opaque', b('y'));
      sys.setxattrat(dfd, 'a/b/l', 'trusted.link', b('2'));
      assert.equal(sys.getxattrat(dfd, 'a/b/f', 'user.deep'), b('1'));
      assert.equal(sys.getxattrat(dfd, 'a/b', 'trusted.overlay.opaque'), b('y'));
      assert.is(sys.getxattrat(dfd, 'a/b/f', 'trusted.link'), null);
      assert.equal(sys.getxattrat(dfd, 'a/b/l', 'trusted.link'), b('2'));
      const abs = path.join(dir, 'a', 'b', 'f');
      assert.equal(sys.getxattrat(sys.AT.FDCWD, abs, 'user.deep'), b('1'));
    }));

  // tmpfs keeps trusted.* values up to the VFS's 64 KiB limit, so 20000 bytes must fit.
  t('large values and long lists (size loop beyond the 4 KiB first buffer, on tmpfs)', () =>
    withTmp((dir, dfd) => {
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      const big = Buffer.alloc(20000, 7);
      big.write('head');
      sys.setxattrat(dfd, 'f', 'trusted.big', big);
      assert.equal(sys.getxattrat(dfd, 'f', 'trusted.big'), big);
      const names: string[] = [];
      for (let i = 0; i < 300; i++) {
        const n = `trusted.name-number-${i}`;
        names.push(n);
        sys.setxattrat(dfd, 'f', n, b(String(i)));
      }
      const listed = sys.listxattrat(dfd, 'f');
      for (const n of names) assert.ok(listed.includes(n), n);
      assert.ok(listed.join('\0').length > 4096);
    }, TMPFS!), noTmpfs);
}

test('f*xattr on a regular fd', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const fd = sys.openat(dfd, 'f', O.RDONLY);
    try {
      sys.fsetxattr(fd, 'user.f', b('fd'));
      sys.fsetxattr(fd, 'trusted.t', b('t'), XATTR.CREATE);
      throwsSys(() => sys.fsetxattr(fd, 'trusted.t', b('t'), XATTR.CREATE), 'EEXIST', 'fsetxattr');
      assert.equal(sys.fgetxattr(fd, 'user.f'), b('fd'));
      assert.is(sys.fgetxattr(fd, 'user.none'), null);
      assert.equal(sys.flistxattr(fd).filter((n) => !n.startsWith('security.')).sort(), ['trusted.t', 'user.f']);
      sys.fremovexattr(fd, 'user.f');
      assert.is(sys.getxattrat(dfd, 'f', 'user.f'), null);
    } finally { sys.close(fd); }
    throwsSys(() => sys.fgetxattr(987654, 'user.f'), 'EBADF', 'fgetxattr');
  }));

test.run();
