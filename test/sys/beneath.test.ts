import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys, openFdCount } from './helpers';

const { O, S } = sys;

type Opener = (dirfd: number, p: string, flags: number, mode?: number) => number;
const openers: [string, Opener][] = [
  ['openBeneath', sys.openBeneath],
  ['_openBeneathWalk', sys._openBeneathWalk],
];

/** root/ { sub/dir/file, evil -> /, up -> .., abs -> /etc, tofile -> sub/dir/file, dangle -> <outside>/created,
 *  sub/back -> ../sub, sub/dir/rel -> ../../.. }; a sibling 'outside' dir holds a secret */
function buildTree(base: string): { root: string; outside: string } {
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(root, 'sub', 'dir'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'secret');
  fs.writeFileSync(path.join(root, 'sub', 'dir', 'file'), 'inside');
  fs.symlinkSync('/', path.join(root, 'evil'));
  fs.symlinkSync('..', path.join(root, 'up'));
  fs.symlinkSync('/etc', path.join(root, 'abs'));
  fs.symlinkSync('sub/dir/file', path.join(root, 'tofile'));
  fs.symlinkSync(path.join(outside, 'created'), path.join(root, 'dangle'));
  fs.symlinkSync('../sub', path.join(root, 'sub', 'back'));
  fs.symlinkSync('../../..', path.join(root, 'sub', 'dir', 'rel'));
  fs.symlinkSync('../outside/secret', path.join(root, 'sib'));
  return { root, outside };
}

function readFd(fd: number): string {
  const b = Buffer.alloc(100);
  return b.subarray(0, sys.pread(fd, b, 0, 100, 0)).toString();
}

test('openat2 is available on this kernel (so both paths are exercised)', () => {
  assert.ok(sys._openat2Available());
});

for (const [name, open] of openers) {
  test(`${name}: normal nested paths work`, () =>
    withTmp((base) => {
      const { root } = buildTree(base);
      const rfd = sys.openat(sys.AT.FDCWD, root, O.PATH | O.DIRECTORY);
      try {
        for (const p of ['sub/dir/file', './sub//dir/./file', 'sub/dir/file']) {
          const fd = open(rfd, p, O.RDONLY);
          try { assert.is(readFd(fd), 'inside'); } finally { sys.close(fd); }
        }
        const dfd = open(rfd, 'sub/dir/', O.RDONLY | O.DIRECTORY);
        try { assert.ok(sys.readdir(dfd).names.includes('file')); } finally { sys.close(dfd); }
        const self = open(rfd, '.', O.PATH | O.DIRECTORY);
        try { assert.is(sys.fstat(self).ino, sys.fstat(rfd).ino); } finally { sys.close(self); }
        // O_CREAT inside
        const c = open(rfd, 'sub/new', O.CREAT | O.EXCL | O.WRONLY, 0o600);
        sys.close(c);
        assert.is(sys.statx(rfd, 'sub/new').mode & 0o777, 0o600 & ~process.umask());
        // O_PATH|O_NOFOLLOW on a final symlink returns the link itself (like openat2)
        const l = open(rfd, 'tofile', O.PATH | O.NOFOLLOW);
        try { assert.is(sys.fstat(l).mode & S.IFMT, S.IFLNK); } finally { sys.close(l); }
        throwsSys(() => open(rfd, 'sub/dir/file/', O.RDONLY), 'ENOTDIR');
        throwsSys(() => open(rfd, 'sub/missing/x', O.RDONLY), 'ENOENT');
        throwsSys(() => open(rfd, '', O.RDONLY), 'ENOENT');
      } finally { sys.close(rfd); }
    }));

  test(`${name}: escapes via symlinks, '..' and absolute paths are refused and open nothing`, () =>
    withTmp((base) => {
      const { root, outside } = buildTree(base);
      const rfd = sys.openat(sys.AT.FDCWD, root, O.PATH | O.DIRECTORY);
      try {
        const before = openFdCount();
        const cases: [string, number, string[]][] = [
          ['evil/etc/passwd', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['evil', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['evil/', O.RDONLY | O.DIRECTORY, ['ELOOP', 'EXDEV']],
          ['up/x', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['up/outside/secret', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['abs/passwd', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['abs/passwd', O.PATH, ['ELOOP', 'EXDEV']],
          ['sib', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['sib', O.PATH, ['ELOOP', 'EXDEV']],
          ['tofile', O.RDONLY, ['ELOOP']],
          ['sub/back/dir/file', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['sub/dir/rel/outside/secret', O.RDONLY, ['ELOOP', 'EXDEV']],
          ['../x', O.RDONLY, ['EXDEV']],
          ['../outside/secret', O.RDONLY, ['EXDEV']],
          ['sub/../../outside/secret', O.RDONLY, ['EXDEV']],
          ['/etc/passwd', O.RDONLY, ['EXDEV']],
          ['/', O.PATH, ['EXDEV']],
          ['..', O.PATH | O.DIRECTORY, ['EXDEV']],
          ['dangle', O.CREAT | O.WRONLY, ['ELOOP', 'EXDEV']],
          ['up/outside/created2', O.CREAT | O.WRONLY, ['ELOOP', 'EXDEV']],
        ];
        for (const [p, flags, codes] of cases) {
          try {
            throwsSys(() => open(rfd, p, flags, 0o644), codes);
          } catch (e) {
            throw new Error(`${name}(${JSON.stringify(p)}): ${(e as Error).message}`);
          }
        }
        assert.is(openFdCount(), before, 'no fd leaked / opened');
        assert.not.ok(fs.existsSync(path.join(outside, 'created')), 'dangling symlink not followed by O_CREAT');
        assert.not.ok(fs.existsSync(path.join(outside, 'created2')));
      } finally { sys.close(rfd); }
    }));
}

test('walk fallback refuses every \'..\' even when it would stay inside (stricter than openat2)', () =>
  withTmp((base) => {
    const { root } = buildTree(base);
    const rfd = sys.openat(sys.AT.FDCWD, root, O.PATH | O.DIRECTORY);
    try {
      throwsSys(() => sys._openBeneathWalk(rfd, 'sub/../sub/dir/file', O.RDONLY), 'EXDEV');
      const fd = sys.openBeneath(rfd, 'sub/../sub/dir/file', O.RDONLY);
      sys.close(fd);
    } finally { sys.close(rfd); }
  }));

test.run();
