import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { withTmp, throwsSys } from './helpers';

const { O, S, DT } = sys;

test('readdir reports d_type for every file type and d_ino; excludes . and ..', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'reg'), 'x');
    fs.mkdirSync(path.join(dir, 'dir'));
    fs.symlinkSync('reg', path.join(dir, 'lnk'));
    sys.mknodat(dfd, 'fifo', S.IFIFO | 0o644, 0);
    sys.mknodat(dfd, 'chr', S.IFCHR | 0o644, sys.makedev(1, 3));
    sys.mknodat(dfd, 'blk', S.IFBLK | 0o644, sys.makedev(7, 0));
    sys.mknodat(dfd, 'sock', S.IFSOCK | 0o644, 0);
    sys.mknodat(dfd, 'wh', S.IFCHR, sys.makedev(0, 0));
    const r = sys.readdir(dfd);
    assert.instance(r.types, Uint8Array);
    assert.instance(r.inos, Float64Array);
    assert.is(r.types.length, r.names.length);
    const got: Record<string, number> = {};
    r.names.forEach((n, i) => { got[n] = r.types[i]; });
    assert.equal(got, {
      reg: DT.REG, dir: DT.DIR, lnk: DT.LNK, fifo: DT.FIFO, chr: DT.CHR, blk: DT.BLK, sock: DT.SOCK, wh: DT.CHR,
    });
    r.names.forEach((n, i) => assert.is(r.inos[i], sys.statx(dfd, n).ino, n));
  }));

test('readdir: empty dir, many entries, unicode names, regular fd keeps its offset', () =>
  withTmp((dir, dfd) => {
    sys.mkdirat(dfd, 'empty', 0o755);
    const efd = sys.openat(dfd, 'empty', O.RDONLY | O.DIRECTORY);
    try {
      const r = sys.readdir(efd);
      assert.equal(r.names, []);
      assert.is(r.types.length, 0);
      assert.is(r.inos.length, 0);
    } finally { sys.close(efd); }
    const names = new Set<string>();
    for (let i = 0; i < 3000; i++) names.add(`entry-with-a-longish-name-${i}`);
    names.add('ünïcødé ✓');
    for (const n of names) fs.writeFileSync(path.join(dir, n), '');
    const r = sys.readdir(dfd);
    assert.is(r.names.length, names.size + 1); // + 'empty'
    for (const n of names) assert.ok(r.names.includes(n), n);
  }));

test('readdir errors: not a directory', () =>
  withTmp((dir, dfd) => {
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const fd = sys.openat(dfd, 'f', O.RDONLY);
    try {
      const e = throwsSys(() => sys.readdir(fd), 'ENOTDIR', 'getdents64');
      assert.is(e.errno, 20);
    } finally { sys.close(fd); }
  }));

test.run();
