import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { Overlay, OverlayError } from '../../lib/engine';
import { makeLayerSet, tempDir, removeTree } from '../helpers/layers';
import { mountTmpfs, mountXfs } from '../helpers/scratch-fs';
import { missing, testIf } from '../helpers/skip';

interface CopyUpEvent { path: string; bytes: number; method: string; metadataOnly: boolean; ms: number }

function upperPath(set: { upper: string }, p: string) {
  return path.join(set.upper, p);
}

test('copy-up keeps holes: a 1 GiB sparse file with 8 KiB of data stays small on the upper', async () => {
  const set = makeLayerSet([{}]);
  const lowerFile = path.join(set.lower[0], 'sparse');
  const fd = fs.openSync(lowerFile, 'w');
  fs.writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 0);
  fs.writeSync(fd, Buffer.alloc(4096, 2), 0, 4096, 512 * 1024 * 1024);
  fs.ftruncateSync(fd, 1024 * 1024 * 1024);
  fs.closeSync(fd);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    const h = await ov.open('/sparse', sys.O.RDWR);
    h.writeSync(Buffer.from('x'), 0, 1, 1024 * 1024 * 1024 - 1);
    h.close();
    const st = fs.statSync(upperPath(set, 'sparse'));
    assert.is(st.size, 1024 * 1024 * 1024);
    assert.ok(st.blocks * 512 <= 1024 * 1024, `upper uses ${st.blocks * 512} bytes`);
    const r = fs.openSync(upperPath(set, 'sparse'), 'r');
    const b = Buffer.alloc(4096);
    fs.readSync(r, b, 0, 4096, 512 * 1024 * 1024);
    fs.closeSync(r);
    assert.ok(b.every((x) => x === 2));
  } finally {
    ov.close();
    set.remove();
  }
});

test('metadata-only copy-up: chmod of a lower file copies no data, reads still come from the lower', async () => {
  const set = makeLayerSet([{ 'big': { type: 'file', content: Buffer.alloc(8 * 1024 * 1024, 7) } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const events: CopyUpEvent[] = [];
  ov.events.on('copy-up', (e: CopyUpEvent) => events.push(e));
  try {
    await ov.chmod('/big', 0o600);
    assert.is(events.length, 1);
    assert.ok(events[0].metadataOnly);
    assert.is(events[0].bytes, 0);
    const st = fs.statSync(upperPath(set, 'big'));
    assert.is(st.size, 8 * 1024 * 1024);
    assert.ok(st.blocks <= 8, 'no data on the upper');
    assert.is(ov.getattr('/big').mode & 0o7777, 0o600);
    assert.ok(ov.readFile('/big').equals(Buffer.alloc(8 * 1024 * 1024, 7)));
    assert.ok(ov.getattr('/big').blocks >= 8 * 1024 * 2, 'blocks come from the data holder');
    // First write completes the copy: the data arrives, the metacopy mark goes.
    const h = await ov.open('/big', sys.O.WRONLY);
    h.writeSync(Buffer.from('abc'), 0, 3, 0);
    h.close();
    const data = fs.readFileSync(upperPath(set, 'big'));
    assert.is(data.subarray(0, 3).toString(), 'abc');
    assert.is(data[3], 7);
    assert.is(data.length, 8 * 1024 * 1024);
    assert.is(sys.getxattrat(sys.AT.FDCWD, upperPath(set, 'big'), 'trusted.overlay.metacopy'), null);
    assert.is(ov.getattr('/big').mode & 0o7777, 0o600, 'metadata survives the data copy');
  } finally {
    ov.close();
    set.remove();
  }
});

test('copy-up keeps owner, mode with set-id bits, ns times, xattrs incl. security.capability', async () => {
  const set = makeLayerSet([{ 'tool': { type: 'file', content: 'bin', mode: 0o4755, uid: 1000, gid: 100, xattrs: { 'user.a': '1' } } }]);
  const f = path.join(set.lower[0], 'tool');
  // A file capability (CAP_NET_RAW, v2 format): chown clears it, so it must be set after the owner.
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  sys.setxattrat(sys.AT.FDCWD, f, 'security.capability', cap);
  sys.utimensat(sys.AT.FDCWD, f, 1_500_000_000, 123456789, 1_600_000_000, 987654321);
  const before = sys.statx(sys.AT.FDCWD, f);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    const attrBefore = ov.getattr('/tool');
    const h = await ov.open('/tool', sys.O.RDWR);
    h.close();
    const after = sys.statx(sys.AT.FDCWD, upperPath(set, 'tool'));
    assert.is(after.uid, 1000);
    assert.is(after.gid, 100);
    assert.is(after.mode, before.mode);
    assert.is(after.mtimeSec, 1_600_000_000);
    assert.is(after.mtimeNsec, 987654321);
    assert.is(sys.getxattrat(sys.AT.FDCWD, upperPath(set, 'tool'), 'user.a')?.toString(), '1');
    assert.ok(sys.getxattrat(sys.AT.FDCWD, upperPath(set, 'tool'), 'security.capability')?.equals(cap));
    assert.is(ov.getattr('/tool').ino, attrBefore.ino, 'st_ino survives copy-up');
    ov.close();
    const again = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
    assert.is(again.getattr('/tool').ino, attrBefore.ino, 'and a reopen');
    again.close();
  } finally {
    ov.close();
    set.remove();
  }
});

test('single flight: concurrent opens for write of one file copy it up once', async () => {
  const set = makeLayerSet([{ 'f': { type: 'file', content: Buffer.alloc(4 * 1024 * 1024, 3) }, 'g': { type: 'file', content: 'g' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  const events: CopyUpEvent[] = [];
  ov.events.on('copy-up', (e: CopyUpEvent) => events.push(e));
  try {
    const handles = await Promise.all([...Array(8)].map(() => ov.open('/f', sys.O.RDWR)).concat([ov.open('/g', sys.O.RDWR)]));
    for (const h of handles) h.close();
    assert.is(events.filter((e) => e.path === '/f').length, 1);
    assert.is(events.filter((e) => e.path === '/g').length, 1);
  } finally {
    ov.close();
    set.remove();
  }
});

test('a full upper: copy-up fails with ENOSPC, the lower file stays intact and visible, nothing is left behind', async () => {
  const scratch = mountTmpfs('2m');
  const base = tempDir();
  try {
    const lower = path.join(base, 'lower');
    fs.mkdirSync(lower);
    fs.writeFileSync(path.join(lower, 'big'), Buffer.alloc(4 * 1024 * 1024, 9));
    const upper = path.join(scratch.dir, 'upper');
    const work = path.join(scratch.dir, 'work');
    fs.mkdirSync(upper);
    fs.mkdirSync(work);
    const ov = Overlay.open({ lower: [lower], upper, work });
    try {
      let code = '';
      try {
        await ov.open('/big', sys.O.RDWR);
      } catch (err) {
        code = (err as OverlayError).code;
      }
      assert.is(code, 'ENOSPC');
      assert.ok(ov.readFile('/big').equals(Buffer.alloc(4 * 1024 * 1024, 9)));
      assert.equal(fs.readdirSync(upper), []);
      assert.equal(fs.readdirSync(path.join(work, 'work')), []);
      assert.ok(fs.statfsSync(scratch.dir).bfree * fs.statfsSync(scratch.dir).bsize > 1024 * 1024, 'space given back');
    } finally {
      ov.close();
    }
  } finally {
    scratch.remove();
    removeTree(base);
  }
});

/** An xfs image with reflink, loop-mounted: mkfs.xfs and root. */
const withXfs = testIf(test, missing('root', 'mkfs.xfs'));

withXfs('reflink filesystem: copy-up shares extents (O(1)) and says so', async () => {
  const xfs = mountXfs(400);
  if (xfs === null) throw new Error('mkfs.xfs not found (the skip check found it)');
  try {
    for (const d of ['lower', 'upper', 'work']) fs.mkdirSync(path.join(xfs.dir, d));
    fs.writeFileSync(path.join(xfs.dir, 'lower', 'f'), Buffer.alloc(64 * 1024 * 1024, 5));
    const ov = Overlay.open({ lower: [path.join(xfs.dir, 'lower')], upper: path.join(xfs.dir, 'upper'), work: path.join(xfs.dir, 'work') });
    const events: CopyUpEvent[] = [];
    ov.events.on('copy-up', (e: CopyUpEvent) => events.push(e));
    try {
      const h = await ov.open('/f', sys.O.WRONLY | sys.O.APPEND);
      h.writeSync(Buffer.from('!'), 0, 1, null);
      h.close();
      assert.is(events[0].method, 'reflink');
      const data = fs.readFileSync(path.join(xfs.dir, 'upper', 'f'));
      assert.is(data.length, 64 * 1024 * 1024 + 1);
      assert.is(data[data.length - 1], '!'.charCodeAt(0));
      assert.is(data[0], 5);
    } finally {
      ov.close();
    }
  } finally {
    xfs.remove();
  }
});


test('lower hard links stay one file after copy-up, also after a reopen (index)', async () => {
  const set = makeLayerSet([{ 'd/a': { type: 'file', content: 'linked\n' } }]);
  fs.linkSync(path.join(set.lower[0], 'd/a'), path.join(set.lower[0], 'b'));
  const opts = { lower: set.lower, upper: set.upper, work: set.work };
  let ov = Overlay.open(opts);
  const events: CopyUpEvent[] = [];
  ov.events.on('copy-up', (e: CopyUpEvent) => events.push(e));
  try {
    const ino = ov.getattr('/d/a').ino;
    assert.is(ov.getattr('/b').ino, ino);
    const h = await ov.open('/d/a', sys.O.WRONLY | sys.O.APPEND);
    h.writeSync(Buffer.from('via a\n'), 0, 6, null);
    h.close();
    assert.is(ov.readFile('/b').toString(), 'linked\nvia a\n', 'the other name sees the write');
    assert.is(ov.getattr('/b').ino, ino);
    assert.is(ov.getattr('/b').nlink, 2);
    assert.is(ov.getattr('/d/a').nlink, 2);
    await ov.chmod('/b', 0o600); // copying up the second name is one more link, no data
    assert.is(events.filter((e) => e.bytes > 0).length, 1);
    assert.is(ov.getattr('/d/a').mode & 0o777, 0o600);
    ov.close();
    ov = Overlay.open(opts);
    assert.is(ov.readFile('/b').toString(), 'linked\nvia a\n');
    assert.is(ov.getattr('/b').ino, ino);
    await ov.unlink('/b');
    assert.is(ov.getattr('/d/a').nlink, 1);
    await ov.link('/d/a', '/c');
    assert.is(ov.getattr('/c').nlink, 2);
  } finally {
    ov.close();
    set.remove();
  }
});

test('symlinks and fifos keep their inode number across copy-up', async () => {
  const set = makeLayerSet([{ 'link': { type: 'symlink', target: 'somewhere' }, 'fifo': { type: 'fifo' } }]);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work });
  try {
    const before = { link: ov.getattr('/link').ino, fifo: ov.getattr('/fifo').ino };
    await ov.chown('/link', 1000, 1000);
    await ov.chmod('/fifo', 0o600);
    assert.ok(ov.resolve('/link').isUpper && ov.resolve('/fifo').isUpper);
    assert.is(ov.getattr('/link').ino, before.link);
    assert.is(ov.getattr('/fifo').ino, before.fifo);
    assert.is(ov.readlink('/link'), 'somewhere');
  } finally {
    ov.close();
    set.remove();
  }
});

test.run();
