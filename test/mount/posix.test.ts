/**
 * What a program sees through a layerfs FUSE mount: open flags, mmap, sparse and large files,
 * concurrent processes, open files renamed over or unlinked, hard links, name limits, rename and
 * rmdir rules, statfs, and errors that must never take the mount down. The data tests run in each
 * I/O mode: server opens with passthrough (the default as root: reads and writes go straight to
 * the layer files), kernel opens (an unprivileged mount's default), server opens served by us.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MountHandle } from '../../lib/mount';
import { LayerSet, LayerSpec, makeLayerSet, removeTree, tempDir } from '../helpers/layers';
import { assertNoMountsUnder, ok, py, sh, withLayerfs } from '../helpers/layerfs-mount';
import { NATIVE, VIA } from '../helpers/transport';

type TestFn = (name: string, fn: () => unknown) => void;
/** Names say which transport ran them; under fuse-native what libfuse 2 cannot express is skipped, with why. */
const testVia: TestFn = (name, fn) => test(name + VIA, fn as () => Promise<void>);
const skipNative = (why: string): TestFn => (name, fn) => test.skip(`${name} (fuse-native: ${why})`, fn as () => Promise<void>);

const LABEL = 'layerfs-mposix-';
const PREFIX = path.join(os.tmpdir(), LABEL);

const HOSTS = '127.0.0.1 localhost\n';
const README = 'read me\n'.repeat(1000);

const STACK: LayerSpec[] = [
  {
    'etc/hosts': { type: 'file', content: HOSTS, mode: 0o644 },
    'etc/gone': { type: 'whiteout' },
    'var/cache/top': { type: 'file', content: 'top' },
  },
  {
    'etc/passwd': { type: 'file', content: 'root:x:0:0::/root:/bin/sh\n' },
    'etc/gone': { type: 'file', content: 'never seen' },
    'usr/share/doc/readme': { type: 'file', content: README },
    'usr/share/man/man1/ls.1': { type: 'file', content: '.TH LS 1\n' },
    'var/cache/sub/deep': { type: 'file', content: 'deep' },
    'data/f1': { type: 'file', content: 'one\n' },
    'data/f2': { type: 'file', content: 'two\n' },
    'data/f3': { type: 'file', content: 'three\n' },
    'data/shared': { type: 'file', content: 'shared\n' },
    'empty-later/x': { type: 'file', content: 'x' },
    'empty-later/y': { type: 'file', content: 'y' },
  },
];

function makeStack(): LayerSet {
  const set = makeLayerSet(STACK, undefined, tempDir(LABEL));
  const bottom = set.lower[1];
  // A sparse lower file: 64 MiB with one block of data in the middle.
  const sparse = path.join(bottom, 'data/sparse');
  const fd = fs.openSync(sparse, 'w');
  fs.writeSync(fd, Buffer.from('middle'), 0, 6, 32 << 20);
  fs.ftruncateSync(fd, 64 << 20);
  fs.closeSync(fd);
  // Two names of one lower file.
  fs.writeFileSync(path.join(bottom, 'data/linked-a'), 'linked\n');
  fs.linkSync(path.join(bottom, 'data/linked-a'), path.join(bottom, 'data/linked-b'));
  return set;
}

type Env = { mp: string; set: LayerSet; m: MountHandle; p: (rel: string) => string };

/**
 * How open files do their I/O: server opens with kernel passthrough (the default as root), kernel
 * opens (no OPEN requests, served reads and writes), server opens served through the writeback cache.
 */
type IoMode = 'kernel-opens' | 'passthrough' | 'served';
const IO_OPTIONS: Record<IoMode, { opens: 'kernel' | 'server'; passthrough: boolean }> = {
  'kernel-opens': { opens: 'kernel', passthrough: false },
  passthrough: { opens: 'server', passthrough: true },
  served: { opens: 'server', passthrough: false },
};

async function withStack(fn: (e: Env) => Promise<void> | void, io?: IoMode): Promise<void> {
  const set = makeStack();
  try {
    if (NATIVE) io ??= 'served'; // its one I/O mode
    const options = io === undefined ? {} : IO_OPTIONS[io];
    await withLayerfs({ lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt'), ...options }, async (m) => {
      const stats = await m.stats();
      assert.is(stats.opens, IO_OPTIONS[io ?? 'passthrough'].opens, 'server opens by default (root, Linux >= 6.9)');
      assert.is(m.passthrough, IO_OPTIONS[io ?? 'passthrough'].passthrough, 'passthrough on by default (root, Linux >= 6.9)');
      await fn({ mp: m.mountpoint, set, m, p: (rel) => path.join(m.mountpoint, rel) });
    });
  } finally {
    set.remove();
  }
}

function errCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
  return undefined;
}

const lowerFile = (e: Env, rel: string) => fs.readFileSync(path.join(e.set.lower[0], rel)).toString();
const bottomFile = (e: Env, rel: string) => fs.readFileSync(path.join(e.set.lower[1], rel)).toString();

for (const mode of ['kernel-opens', 'passthrough', 'served'] as const) {
  // fuse-native (libfuse 2) serves every open itself, without passthrough: only 'served' applies
  const test = NATIVE && mode !== 'served' ? skipNative(`libfuse 2 has no ${mode === 'passthrough' ? 'kernel passthrough' : 'kernel opens (no_open)'}`) : testVia;

  test(`[${mode}] O_APPEND on a lower file copies up and appends at the end, each write`, () =>
    withStack((e) => {
      const a = fs.openSync(e.p('etc/hosts'), 'a');
      const b = fs.openSync(e.p('etc/hosts'), 'a');
      fs.writeSync(a, 'one\n', 0); // the position is ignored with O_APPEND
      fs.writeSync(b, 'two\n', 0);
      fs.writeSync(a, 'three\n');
      fs.closeSync(a);
      fs.closeSync(b);
      assert.is(fs.readFileSync(e.p('etc/hosts'), 'utf8'), HOSTS + 'one\ntwo\nthree\n');
      assert.is(lowerFile(e, 'etc/hosts'), HOSTS, 'the lower layer is never written');
      assert.is(fs.readFileSync(path.join(e.set.upper, 'etc/hosts'), 'utf8'), HOSTS + 'one\ntwo\nthree\n');
    }, mode));

  // With passthrough the kernel allows one backing file per FUSE inode while it is open: the copy-up
  // gives the object a new inode (the open is retried through ESTALE), readers keep the old one.
  test(`[${mode}] a lower file open for reading, then opened for writing (copy-up under an open fd)`, () =>
    withStack((e) => {
      const rd = fs.openSync(e.p('data/f1'), 'r');
      const wr = fs.openSync(e.p('data/f1'), 'r+');
      fs.writeSync(wr, 'ONE', 0);
      fs.closeSync(wr);
      const b = Buffer.alloc(10);
      const n = fs.readSync(rd, b, 0, 10, 0);
      fs.closeSync(rd);
      assert.ok(['one\n', 'ONE\n'].includes(b.subarray(0, n).toString()), b.subarray(0, n).toString());
      assert.is(fs.readFileSync(e.p('data/f1'), 'utf8'), 'ONE\n');
    }, mode));

  test(`[${mode}] O_TRUNC empties a lower file in the merged view only`, () =>
    withStack((e) => {
      const fd = fs.openSync(e.p('usr/share/doc/readme'), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
      assert.is(fs.fstatSync(fd).size, 0);
      fs.writeSync(fd, 'short');
      fs.closeSync(fd);
      assert.is(fs.readFileSync(e.p('usr/share/doc/readme'), 'utf8'), 'short');
      assert.is(fs.statSync(e.p('usr/share/doc/readme')).size, 5);
      assert.is(bottomFile(e, 'usr/share/doc/readme'), README);
    }, mode));

  test(`[${mode}] O_EXCL: EEXIST for lower and upper names, success over a whiteout`, () =>
    withStack((e) => {
      const X = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY;
      assert.is(errCode(() => fs.openSync(e.p('etc/passwd'), X)), 'EEXIST');
      assert.is(errCode(() => fs.openSync(e.p('usr/share'), X)), 'EEXIST');
      const fd = fs.openSync(e.p('etc/new'), X, 0o640);
      fs.writeSync(fd, 'n');
      fs.closeSync(fd);
      assert.is(errCode(() => fs.openSync(e.p('etc/new'), X)), 'EEXIST');
      assert.is(fs.statSync(e.p('etc/new')).mode & 0o777, 0o640);
      // 'etc/gone' is whited out in the top layer: the name is free.
      assert.is(errCode(() => fs.statSync(e.p('etc/gone'))), 'ENOENT');
      fs.closeSync(fs.openSync(e.p('etc/gone'), X));
      assert.is(fs.readFileSync(e.p('etc/gone'), 'utf8'), '');
      // And a removed lower file's name too.
      fs.unlinkSync(e.p('data/f1'));
      const fd2 = fs.openSync(e.p('data/f1'), X);
      fs.writeSync(fd2, 'again');
      fs.closeSync(fd2);
      assert.is(fs.readFileSync(e.p('data/f1'), 'utf8'), 'again');
    }, mode));

  test(`[${mode}] mmap: shared writable map of a lower file copies it up; read-only map reads lower data`, () =>
    withStack(async (e) => {
      const out = await py(
        [
          'import mmap, os, sys',
          'fd = os.open(sys.argv[1], os.O_RDWR)',
          'm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)',
          'm[0:4] = b"READ"',
          'm[-5:] = b"TAIL\\n"',
          'm.flush()',
          'm.close()',
          'os.lseek(fd, 0, 0)',
          'data = os.read(fd, 1 << 20)',
          'os.close(fd)',
          'sys.stdout.write(data[:12].decode() + "|" + data[-5:].decode() + "|" + str(len(data)))',
        ].join('\n'),
        [e.p('usr/share/doc/readme')],
      );
      assert.is(out, 'READ me\nread|TAIL\n|8000');
      const expected = 'READ' + README.slice(4, -5) + 'TAIL\n';
      assert.is(fs.readFileSync(e.p('usr/share/doc/readme'), 'utf8'), expected, 'read() after the mmap writes');
      assert.is(fs.readFileSync(path.join(e.set.upper, 'usr/share/doc/readme'), 'utf8'), expected);
      assert.is(bottomFile(e, 'usr/share/doc/readme'), README);
      const ro = await py(
        [
          'import mmap, os, sys',
          'fd = os.open(sys.argv[1], os.O_RDONLY)',
          'm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)',
          'sys.stdout.write(m[:].decode())',
          'm.close()',
          'os.close(fd)',
        ].join('\n'),
        [e.p('etc/hosts')],
      );
      assert.is(ro, HOSTS);
      assert.not.ok(fs.existsSync(path.join(e.set.upper, 'etc/hosts')), 'a read-only map copies nothing up');
      // A private writable map changes nothing on disk either.
      const priv = await py(
        [
          'import mmap, os, sys',
          'fd = os.open(sys.argv[1], os.O_RDONLY)',
          'm = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)',
          'm[0:3] = b"XXX"',
          'sys.stdout.write(m[:6].decode())',
        ].join('\n'),
        [e.p('etc/passwd')],
      );
      assert.is(priv, 'XXXt:x');
      assert.is(fs.readFileSync(e.p('etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
    }, mode));

  test(`[${mode}] sparse files: holes read as zeros and take no blocks, also after copy-up`, () =>
    withStack((e) => {
      const fd = fs.openSync(e.p('sparse-new'), 'w+');
      fs.writeSync(fd, Buffer.from('end'), 0, 3, 10 << 20);
      const st = fs.fstatSync(fd);
      assert.is(st.size, (10 << 20) + 3);
      const hole = Buffer.alloc(4096, 0xff);
      assert.is(fs.readSync(fd, hole, 0, 4096, 5 << 20), 4096);
      assert.ok(hole.every((b) => b === 0), 'a hole reads as zeros');
      fs.closeSync(fd);
      assert.ok(fs.statSync(e.p('sparse-new')).blocks <= 64, `blocks ${fs.statSync(e.p('sparse-new')).blocks}`);
      // Copy-up of a sparse lower file (by appending) keeps it sparse.
      fs.appendFileSync(e.p('data/sparse'), 'Z');
      const s2 = fs.statSync(e.p('data/sparse'));
      assert.is(s2.size, (64 << 20) + 1);
      assert.ok(s2.blocks <= 256, `copied-up sparse file takes ${s2.blocks} blocks`);
      const rd = fs.openSync(e.p('data/sparse'), 'r');
      const mid = Buffer.alloc(8);
      fs.readSync(rd, mid, 0, 8, (32 << 20) - 1);
      assert.equal([...mid], [0, ...Buffer.from('middle'), 0]);
      const tail = Buffer.alloc(2);
      fs.readSync(rd, tail, 0, 2, (64 << 20) - 1);
      assert.equal([...tail], [0, 'Z'.charCodeAt(0)]);
      fs.closeSync(rd);
    }, mode));

  test(`[${mode}] large files: a byte at 5 GiB`, () =>
    withStack(async (e) => {
      const at = 5 * 2 ** 30;
      const fd = fs.openSync(e.p('big'), 'w+');
      fs.writeSync(fd, Buffer.from('Q'), 0, 1, at);
      fs.closeSync(fd);
      assert.is(fs.statSync(e.p('big')).size, at + 1);
      const rd = fs.openSync(e.p('big'), 'r');
      const b = Buffer.alloc(2);
      assert.is(fs.readSync(rd, b, 0, 2, at - 1), 2);
      assert.equal([...b], [0, 'Q'.charCodeAt(0)]);
      fs.closeSync(rd);
      // Through another process too, and a lower file grown past 4 GiB.
      assert.is(await ok(`tail -c 1 '${e.p('big')}'`), 'Q');
      await ok(`printf W | dd of='${e.p('data/f2')}' bs=1 seek=${at} conv=notrunc status=none`);
      assert.is(fs.statSync(e.p('data/f2')).size, at + 1);
      assert.is(await ok(`head -c 4 '${e.p('data/f2')}'; tail -c 1 '${e.p('data/f2')}'`), 'two\nW');
    }, mode));

  test(`[${mode}] concurrent processes: appenders to one file and to their own, readers meanwhile`, () =>
    withStack(async (e) => {
      const writer = [
        'import os, sys',
        'path, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3])',
        'for i in range(n):',
        '    fd = os.open(path, os.O_WRONLY | os.O_APPEND)',
        '    os.write(fd, f"{me}:{i:04d}:{me * 20}\\n".encode())',
        '    os.close(fd)',
      ].join('\n');
      const reader = [
        'import sys',
        'path, want, n = sys.argv[1], sys.argv[2], int(sys.argv[3])',
        'for i in range(n):',
        '    got = open(path).read()',
        '    assert got == want, (i, got)',
        'print("ok")',
      ].join('\n');
      const N = 150;
      const jobs = [
        ...['A', 'B', 'C'].map((w) => py(writer, [e.p('data/shared'), w, String(N)])), // one lower file, three appenders
        py(writer, [e.p('data/f1'), 'D', String(N)]),
        py(writer, [e.p('data/f2'), 'E', String(N)]),
        py(reader, [e.p('data/f3'), 'three\n', '300']),
        py(reader, [e.p('etc/passwd'), 'root:x:0:0::/root:/bin/sh\n', '300']),
      ];
      const results = await Promise.all(jobs);
      assert.is(results[5], 'ok\n');
      assert.is(results[6], 'ok\n');
      const shared = fs.readFileSync(e.p('data/shared'), 'utf8').split('\n');
      assert.is(shared[0], 'shared');
      assert.is(shared.length, 1 + 3 * N + 1);
      for (const w of ['A', 'B', 'C']) {
        const mine = shared.filter((l) => l.startsWith(w + ':'));
        assert.equal(mine, Array.from({ length: N }, (_, i) => `${w}:${String(i).padStart(4, '0')}:${w.repeat(20)}`), `lines of ${w} whole and in order`);
      }
      for (const [f, w, first] of [['data/f1', 'D', 'one'], ['data/f2', 'E', 'two']]) {
        const lines = fs.readFileSync(e.p(f), 'utf8').split('\n');
        assert.equal(lines, [first, ...Array.from({ length: N }, (_, i) => `${w}:${String(i).padStart(4, '0')}:${w.repeat(20)}`), '']);
      }
    }, mode));
}

test('rename over an open file: the open descriptor keeps reading the old data', () =>
  withStack(async (e) => {
    const lowerFd = fs.openSync(e.p('etc/passwd'), 'r');
    fs.writeFileSync(e.p('tmp-new'), 'replacement\n');
    fs.renameSync(e.p('tmp-new'), e.p('etc/passwd'));
    const buf = Buffer.alloc(100);
    const n = fs.readSync(lowerFd, buf, 0, 100, 0);
    assert.is(buf.subarray(0, n).toString(), 'root:x:0:0::/root:/bin/sh\n');
    assert.is(fs.fstatSync(lowerFd).size, 26);
    fs.closeSync(lowerFd);
    assert.is(fs.readFileSync(e.p('etc/passwd'), 'utf8'), 'replacement\n');
    // An upper file, open for writing, renamed over.
    fs.writeFileSync(e.p('u1'), 'first version');
    const upFd = fs.openSync(e.p('u1'), 'r+');
    fs.writeFileSync(e.p('u2'), 'second');
    fs.renameSync(e.p('u2'), e.p('u1'));
    fs.writeSync(upFd, 'FIRST', 0);
    const b2 = Buffer.alloc(100);
    const n2 = fs.readSync(upFd, b2, 0, 100, 0);
    assert.is(b2.subarray(0, n2).toString(), 'FIRST version');
    fs.closeSync(upFd);
    assert.is(fs.readFileSync(e.p('u1'), 'utf8'), 'second');
    assert.is(await ok(`cat '${e.p('etc/passwd')}'`), 'replacement\n');
  }));

test('unlink of an open file: reads, writes and fstat continue through the descriptor', () =>
  withStack(async (e) => {
    const fd = fs.openSync(e.p('usr/share/doc/readme'), 'r');
    fs.unlinkSync(e.p('usr/share/doc/readme'));
    assert.is(errCode(() => fs.statSync(e.p('usr/share/doc/readme'))), 'ENOENT');
    const buf = Buffer.alloc(README.length + 10);
    assert.is(fs.readSync(fd, buf, 0, buf.length, 0), README.length);
    assert.is(buf.subarray(0, README.length).toString(), README);
    assert.is(fs.fstatSync(fd).size, README.length);
    fs.closeSync(fd);
    // A file open for writing, unlinked: writes, reads, fstat and ftruncate through the fd.
    fs.writeFileSync(e.p('scratch'), 'abc');
    const w = fs.openSync(e.p('scratch'), 'r+');
    fs.unlinkSync(e.p('scratch'));
    fs.writeSync(w, 'defgh', 3);
    assert.is(fs.fstatSync(w).size, 8);
    fs.ftruncateSync(w, 4);
    assert.is(fs.fstatSync(w).size, 4);
    const b = Buffer.alloc(10);
    assert.is(fs.readSync(w, b, 0, 10, 0), 4);
    assert.is(b.subarray(0, 4).toString(), 'abcd');
    fs.closeSync(w);
    assert.equal(fs.readdirSync(e.mp).includes('scratch'), false);
    // A lower file opened for writing (copied up), then unlinked.
    const lw = fs.openSync(e.p('data/f3'), 'r+');
    fs.unlinkSync(e.p('data/f3'));
    fs.writeSync(lw, 'THREE', 0);
    const b3 = Buffer.alloc(10);
    assert.is(fs.readSync(lw, b3, 0, 10, 0), 6);
    assert.is(b3.subarray(0, 6).toString(), 'THREE\n');
    fs.closeSync(lw);
    assert.is(errCode(() => fs.statSync(e.p('data/f3'))), 'ENOENT');
    assert.is(await ok(`ls '${e.p('data')}'`), 'f1\nf2\nlinked-a\nlinked-b\nshared\nsparse\n');
  }));

// Two names of one lower file must stay one file after a copy-up, also after a remount (the
// kernel's overlayfs does this with index=on). KNOWN FAILURE, reported to the lead: the engine
// copies up one name only; the kernel's inode cache hides it until the remount.
test('hard links of a lower file: a write through one name is read through the other, also after a remount', async () => {
  const set = makeStack();
  const opts = { lower: set.lower, upper: set.upper, work: set.work, mountpoint: path.join(set.base, 'mnt') };
  try {
    await withLayerfs(opts, (m) => {
      const a = path.join(m.mountpoint, 'data/linked-a'), b = path.join(m.mountpoint, 'data/linked-b');
      assert.is(fs.statSync(a).ino, fs.statSync(b).ino, 'one inode before copy-up');
      assert.is(fs.statSync(a).nlink, 2);
      fs.appendFileSync(a, 'through a\n');
      assert.is(fs.readFileSync(a, 'utf8'), 'linked\nthrough a\n');
      assert.is(fs.readFileSync(b, 'utf8'), 'linked\nthrough a\n', 'the other name of the same file sees the write');
      assert.is(fs.statSync(a).ino, fs.statSync(b).ino, 'still one inode after copy-up');
      assert.is(fs.statSync(b).nlink, 2, 'nlink after copy-up');
    });
    await withLayerfs(opts, (m) => {
      const a = path.join(m.mountpoint, 'data/linked-a'), b = path.join(m.mountpoint, 'data/linked-b');
      assert.is(fs.readFileSync(b, 'utf8'), 'linked\nthrough a\n', 'after a remount, the other name sees the write');
      assert.is(fs.statSync(a).ino, fs.statSync(b).ino, 'one inode after a remount');
    });
  } finally {
    set.remove();
  }
});

test('ENAMETOOLONG for a 256-byte name, 255 bytes fine', () =>
  withStack(async (e) => {
      const long = 'n'.repeat(256), max = 'm'.repeat(255);
      assert.is(errCode(() => fs.writeFileSync(e.p(long), 'x')), 'ENAMETOOLONG');
      assert.is(errCode(() => fs.mkdirSync(e.p(`etc/${long}`))), 'ENAMETOOLONG');
      assert.is(errCode(() => fs.symlinkSync('t', e.p(long))), 'ENAMETOOLONG');
      assert.is(errCode(() => fs.renameSync(e.p('etc/hosts'), e.p(`usr/${long}`))), 'ENAMETOOLONG');
      assert.is(errCode(() => fs.statSync(e.p(long))), 'ENAMETOOLONG');
      fs.writeFileSync(e.p(max), 'ok');
      fs.mkdirSync(e.p(`usr/${max}`));
      assert.is(fs.readFileSync(e.p(max), 'utf8'), 'ok');
      assert.ok((await ok(`ls '${e.mp}'`)).includes(max));
  }));

test('renaming lower directories never fails with EXDEV', () =>
  withStack(async (e) => {
    fs.renameSync(e.p('usr/share'), e.p('share2')); // a lower-only directory with subdirectories
    assert.is(fs.readFileSync(e.p('share2/doc/readme'), 'utf8'), README);
    assert.is(errCode(() => fs.statSync(e.p('usr/share'))), 'ENOENT');
    fs.renameSync(e.p('var/cache'), e.p('etc/cache')); // merged from two layers
    assert.equal(fs.readdirSync(e.p('etc/cache')).sort(), ['sub', 'top']);
    assert.is(fs.readFileSync(e.p('etc/cache/sub/deep'), 'utf8'), 'deep');
    fs.writeFileSync(e.p('etc/cache/sub/new'), 'n');
    fs.renameSync(e.p('etc/cache/sub'), e.p('sub-again')); // lower dir with an upper child, renamed twice
    assert.equal(fs.readdirSync(e.p('sub-again')).sort(), ['deep', 'new']);
    fs.renameSync(e.p('share2/man'), e.p('share2/doc/man')); // into a sibling
    assert.is(fs.readFileSync(e.p('share2/doc/man/man1/ls.1'), 'utf8'), '.TH LS 1\n');
    // mv (which falls back to copying on EXDEV) leaves the same result as a rename
    await ok(`mv '${e.p('data')}' '${e.p('etc/data')}'`);
    assert.is(fs.readFileSync(e.p('etc/data/f1'), 'utf8'), 'one\n');
  }));

test('rmdir: ENOTEMPTY for a merged directory with lower entries, fine once they are all removed', () =>
  withStack((e) => {
    assert.is(errCode(() => fs.rmdirSync(e.p('etc'))), 'ENOTEMPTY');
    assert.is(errCode(() => fs.rmdirSync(e.p('var/cache'))), 'ENOTEMPTY');
    assert.is(errCode(() => fs.rmdirSync(e.p('usr/share/man'))), 'ENOTEMPTY', 'only subdirectories below');
    fs.unlinkSync(e.p('empty-later/x'));
    assert.is(errCode(() => fs.rmdirSync(e.p('empty-later'))), 'ENOTEMPTY');
    fs.unlinkSync(e.p('empty-later/y'));
    fs.rmdirSync(e.p('empty-later')); // only whiteouts left below it
    assert.is(errCode(() => fs.statSync(e.p('empty-later'))), 'ENOENT');
    fs.mkdirSync(e.p('empty-later'));
    assert.equal(fs.readdirSync(e.p('empty-later')), [], 'a new directory over a removed one is empty');
    assert.is(errCode(() => fs.rmdirSync(e.p('etc/hosts'))), 'ENOTDIR');
  }));

test('statfs works (fs.statfs and df) and reports the upper filesystem', () =>
  withStack(async (e) => {
    const s = fs.statfsSync(e.mp);
    const u = fs.statfsSync(e.set.upper);
    assert.ok(s.bsize > 0 && s.blocks > 0, JSON.stringify(s));
    assert.is(s.blocks, u.blocks);
    assert.is(s.bsize, u.bsize);
    const df = await ok(`df -P '${e.mp}'`);
    assert.ok(df.trim().split('\n')[1].endsWith(e.mp), df);
    await ok(`df -i '${e.mp}'`);
  }));

test('errors from handlers never take the mount down', () =>
  withStack(async (e) => {
    const logs: string[] = [];
    e.m.events.on('log', (l: string) => logs.push(l));
    const alive = () => assert.is(fs.readFileSync(e.p('etc/hosts'), 'utf8'), HOSTS, `mount alive (logs: ${logs.join('; ')})`);
    // Errors a program may provoke: each must come back as an errno, and the mount must stay up.
    const r = await py(
      [
        'import ctypes, errno, fcntl, os, sys',
        'mp = sys.argv[1]',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'def code(f):',
        '    try:',
        '        f()',
        '        return "ok"',
        '    except OSError as e:',
        '        return errno.errorcode.get(e.errno, str(e.errno))',
        'out = []',
        // renameat2 with RENAME_WHITEOUT (4): refused
        'AT = -100',
        'def rw():',
        '    if libc.renameat2(AT, (mp + "/data/f1").encode(), AT, (mp + "/data/f9").encode(), 4) != 0:',
        '        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))',
        'out.append(code(rw))',
        // an ioctl the server does not know
        'fd = os.open(mp + "/etc/hosts", os.O_RDONLY)',
        'out.append(code(lambda: fcntl.ioctl(fd, 0x80086601, b"\\0" * 8)))',
        // SEEK_DATA past the end
        'out.append(code(lambda: os.lseek(fd, 1 << 40, 3)))',
        'os.close(fd)',
        // xattrs: a missing one, a huge one, an overlay-private one
        'out.append(code(lambda: os.getxattr(mp + "/etc/hosts", "user.nope")))',
        'out.append(code(lambda: os.setxattr(mp + "/etc/hosts", "user.big", b"x" * 70000)))',
        'out.append(code(lambda: os.setxattr(mp + "/etc/hosts", "trusted.overlay.opaque", b"y")))',
        // rename a directory into itself, rmdir of the root, a link to a directory
        'out.append(code(lambda: os.rename(mp + "/usr", mp + "/usr/share/x")))',
        'out.append(code(lambda: os.link(mp + "/usr", mp + "/usr2")))',
        'out.append(code(lambda: os.open(mp + "/etc", os.O_WRONLY)))',
        'out.append(code(lambda: os.mkdir(mp + "/etc/hosts/x")))',
        'print(" ".join(out))',
      ].join('\n'),
      [e.mp],
    );
    const codes = r.trim().split(' ');
    assert.is(codes.length, 10, r);
    assert.is(codes[0], 'EINVAL', 'RENAME_WHITEOUT');
    assert.ok(codes[1] !== 'ok', `unknown ioctl: ${codes[1]}`);
    assert.is(codes[2], 'ENXIO', 'SEEK_DATA past the end');
    assert.is(codes[3], 'ENODATA');
    assert.ok(['E2BIG', 'ENOSPC', 'ERANGE'].includes(codes[4]), `huge xattr: ${codes[4]}`);
    assert.is(codes[5], 'ok', 'trusted.overlay.* is stored escaped, as the kernel does');
    assert.is(codes[6], 'EINVAL');
    assert.is(codes[7], 'EPERM');
    assert.is(codes[8], 'EISDIR');
    assert.is(codes[9], 'ENOTDIR');
    alive();
    // The layers changed underneath (not allowed, but it happens): errors, never a dead mount.
    fs.readFileSync(e.p('data/f2'));
    fs.readdirSync(e.p('usr/share/doc'));
    fs.rmSync(path.join(e.set.lower[1], 'data/f2'));
    fs.rmSync(path.join(e.set.lower[1], 'usr/share/doc'), { recursive: true });
    await sh(`cat '${e.p('data/f2')}'; ls '${e.p('usr/share/doc')}'; echo x >> '${e.p('data/f2')}'; cat '${e.p('usr/share/doc/readme')}'`);
    alive();
    fs.writeFileSync(e.p('after'), 'still here');
    assert.is(fs.readFileSync(e.p('after'), 'utf8'), 'still here');
    const st = await e.m.stats();
    assert.ok(Object.values(st.requests).reduce((a, b) => a + b, 0) > 10);
  }));

test('no mount left behind', () => {
  assertNoMountsUnder(PREFIX);
  for (const d of fs.readdirSync(os.tmpdir())) if (d.startsWith(LABEL)) removeTree(path.join(os.tmpdir(), d));
});

test.run();
