import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../lib/fuse';
import { INIT, FOPEN, Notify, SIZE, splitFlags, joinFlags } from '../../lib/fuse';

const attr: E.FuseAttr = {
  ino: 42, size: 2 ** 33 + 1, blocks: 8, atimeSec: 1700000000, atimeNsec: 5, mtimeSec: -1, mtimeNsec: 6,
  ctimeSec: 1700000002, ctimeNsec: 7, mode: 0o100644, nlink: 2, uid: 1000, gid: 100, rdev: 0x0801, blksize: 4096,
};

test('struct sizes from fuse.h', () => {
  assert.is(SIZE.ENTRY_OUT, 40 + SIZE.ATTR);
  assert.is(SIZE.DIRENTPLUS, SIZE.ENTRY_OUT + SIZE.DIRENT);
  assert.is(E.errorReply(1, 2).length, 16);
});

test('out header + entry_out: lengths and offsets', () => {
  const b = E.entryReply(99, { nodeid: 7, generation: 3, attr, entryTimeout: 1.5, attrTimeout: 2 });
  assert.is(b.length, 16 + 128);
  assert.is(b.readUInt32LE(0), 144); assert.is(b.readInt32LE(4), 0); assert.is(b.readBigUInt64LE(8), 99n);
  assert.is(b.readBigUInt64LE(16), 7n); assert.is(b.readBigUInt64LE(24), 3n);
  assert.is(b.readBigUInt64LE(32), 1n); assert.is(b.readBigUInt64LE(40), 2n);
  assert.is(b.readUInt32LE(48), 500000000); assert.is(b.readUInt32LE(52), 0);
  const a = 56; // attr
  assert.is(b.readBigUInt64LE(a), 42n); assert.is(b.readBigUInt64LE(a + 8), 2n ** 33n + 1n);
  assert.is(b.readBigInt64LE(a + 32), -1n); // mtime
  assert.is(b.readUInt32LE(a + 60), 0o100644); assert.is(b.readUInt32LE(a + 64), 2);
  assert.is(b.readUInt32LE(a + 76), 0x0801); assert.is(b.readUInt32LE(a + 80), 4096);
});

test('signed 64-bit times round-trip through the two-halves writer', () => {
  const b = Buffer.alloc(8);
  for (const v of [0, 1, -1, -2, 2 ** 32, -(2 ** 32), 2 ** 32 + 5, -(2 ** 32) - 5, 1700000000, -1700000000, 2 ** 53 - 1, -(2 ** 53) + 1, -0.5, 3.9]) {
    E.writeI64(b, 0, v);
    assert.is(b.readBigInt64LE(0), BigInt(Math.trunc(v)), String(v));
  }
});

test('error reply negates errno', () => {
  const b = E.errorReply(5, 2);
  assert.is(b.readInt32LE(4), -2);
  assert.is(b.readUInt32LE(0), 16);
});

test('attr_out, open_out (passthrough), write_out, statfs_out, getxattr_out, lseek_out', () => {
  const a = E.attrReply(1, attr, 0.25);
  assert.is(a.length, 16 + 104); assert.is(a.readBigUInt64LE(16), 0n); assert.is(a.readUInt32LE(24), 250000000);
  assert.is(a.readBigUInt64LE(32), 42n);
  const o = E.openReply(1, { fh: 2 ** 40, openFlags: FOPEN.KEEP_CACHE, backingId: 3 });
  assert.is(o.length, 32); assert.is(o.readBigUInt64LE(16), 2n ** 40n);
  assert.is(o.readUInt32LE(24), FOPEN.KEEP_CACHE | FOPEN.PASSTHROUGH); assert.is(o.readInt32LE(28), 3);
  const c = E.createReply(1, { nodeid: 9, attr }, { fh: 4 });
  assert.is(c.length, 16 + 128 + 16); assert.is(c.readBigUInt64LE(16 + 128), 4n);
  assert.is(E.writeReply(1, 4096).readUInt32LE(16), 4096);
  const s = E.statfsReply(1, { blocks: 10, bfree: 9, bavail: 8, files: 7, ffree: 6, bsize: 4096, namelen: 255, frsize: 512 });
  assert.is(s.length, 16 + 80); assert.is(s.readBigUInt64LE(48), 6n); assert.is(s.readUInt32LE(56), 4096);
  assert.is(s.readUInt32LE(60), 255); assert.is(s.readUInt32LE(64), 512);
  const x = E.xattrSizeReply(1, 23);
  assert.is(x.length, 24); assert.is(x.readUInt32LE(16), 23);
  assert.is(E.lseekReply(1, 2 ** 35).readBigUInt64LE(16), 2n ** 35n);
});

test('init_out 7.45 layout and flags/flags2 split', () => {
  const flags = INIT.ASYNC_READ | INIT.INIT_EXT | INIT.PASSTHROUGH | INIT.MAX_PAGES;
  const b = E.initReply(3, { major: 7, minor: 45, maxReadahead: 131072, flags, maxBackground: 64, congestionThreshold: 48,
    maxWrite: 1 << 20, timeGran: 1, maxPages: 256, maxStackDepth: 1, requestTimeout: 0 });
  assert.is(b.length, 16 + 64);
  assert.is(b.readUInt32LE(16), 7); assert.is(b.readUInt32LE(20), 45); assert.is(b.readUInt32LE(24), 131072);
  assert.is(b.readUInt32LE(28), 1 | (1 << 30) | (1 << 22));
  assert.is(b.readUInt16LE(32), 64); assert.is(b.readUInt16LE(34), 48); assert.is(b.readUInt32LE(36), 1 << 20);
  assert.is(b.readUInt32LE(40), 1); assert.is(b.readUInt16LE(44), 256);
  assert.is(b.readUInt32LE(48), 1 << 5); // PASSTHROUGH = bit 37 -> flags2 bit 5
  assert.is(b.readUInt32LE(52), 1);
  const sp = splitFlags(flags);
  assert.is(joinFlags(sp.flags, sp.flags2), flags);
});

test('readdir packing: 8-byte alignment and buffer limit', () => {
  const ents: E.DirEntry[] = [
    { name: '.', ino: 1, type: 4, off: 1 },
    { name: 'abcdefgh', ino: 5, type: 8, off: 2 }, // 24 + 8 = 32, already aligned
    { name: 'xyz', ino: 6, type: 10, off: 3 },     // 24 + 3 -> 32
  ];
  const all = E.packDirents(ents, 4096);
  assert.is(all.count, 3);
  assert.is(all.data.length, 32 + 32 + 32);
  assert.is(all.data.readBigUInt64LE(0), 1n); assert.is(all.data.readBigUInt64LE(8), 1n);
  assert.is(all.data.readUInt32LE(16), 1); assert.is(all.data.readUInt32LE(20), 4);
  assert.is(all.data.toString('utf8', 24, 25), '.');
  assert.is(all.data.readUInt32LE(32 + 16), 8); assert.is(all.data.toString('utf8', 56, 64), 'abcdefgh');
  assert.is(all.data.readBigUInt64LE(64 + 8), 3n); assert.is(all.data.readUInt32LE(64 + 20), 10);
  assert.is(all.data[64 + 27], 0); // padding zeroed
  // limit: 95 bytes hold only two records; an entry never straddles the limit
  const part = E.packDirents(ents, 95);
  assert.is(part.count, 2); assert.is(part.data.length, 64);
  assert.is(E.packDirents(ents, 10).count, 0);
  // utf8 name length in bytes
  const u = E.packDirents([{ name: 'é', ino: 1, type: 8, off: 1 }], 100);
  assert.is(u.data.readUInt32LE(16), 2);
});

test('readdirplus packing: entry_out + dirent, nodeid 0 entries, limit', () => {
  const p = new E.DirentPlusPacker(2 * 160 + 10);
  assert.ok(p.add({ name: 'a', ino: 5, type: 8, off: 1 }, { nodeid: 5, attr, entryTimeout: 1, attrTimeout: 1 }));
  assert.ok(p.add({ name: 'b', ino: 6, type: 8, off: 2 }));
  assert.not.ok(p.fits('c'));
  assert.not.ok(p.add({ name: 'c', ino: 7, type: 8, off: 3 }));
  const d = p.data();
  assert.is(p.count, 2); assert.is(d.length, 320);
  assert.is(d.readBigUInt64LE(0), 5n); assert.is(d.readBigUInt64LE(40), 42n); // entry.nodeid, attr.ino
  assert.is(d.readBigUInt64LE(128), 5n); assert.is(d.readBigUInt64LE(136), 1n); assert.is(d.readUInt32LE(144), 1);
  assert.is(d.toString('utf8', 152, 153), 'a');
  assert.is(d.readBigUInt64LE(160), 0n); // no entry: nodeid 0
  assert.is(d.readBigUInt64LE(160 + 128), 6n);
});

test('replies built in unzeroed buffers carry no stale bytes', () => {
  const real = Buffer.allocUnsafe;
  const built = (fill: number) => {
    Buffer.allocUnsafe = (n: number) => real(n).fill(fill);
    try {
      return [
        E.errorReply(2 ** 40 + 3, 2), E.emptyReply(7), E.entryReply(2 ** 33, { nodeid: 2 ** 45, attr }), E.attrReply(1, attr, 0.5),
        E.openReply(1, { fh: 3 }), E.createReply(1, { nodeid: 9, attr }, { fh: 2 ** 52, backingId: 4 }), E.writeReply(1, 7),
        E.dataReply(1, Buffer.from('abc')),
      ];
    } finally {
      Buffer.allocUnsafe = real;
    }
  };
  const a = built(0xaa), z = built(0);
  a.forEach((b, i) => assert.equal(b, z[i], `reply ${i}`));
  assert.is(a[0].readBigUInt64LE(8), 2n ** 40n + 3n);
  assert.is(a[2].readBigUInt64LE(16), 2n ** 45n);
});

test('readdirplus reply: the out header in front of the records, utf8 names in place', () => {
  const p = new E.DirentPlusPacker(1000);
  assert.ok(p.fits('é✓'));
  assert.ok(p.add({ name: 'é✓', ino: 5, type: 4, off: 1 }));
  assert.ok(p.add({ name: 'b', ino: 6, type: 8, off: 2 }, { nodeid: 6, attr }));
  const r = p.reply(2 ** 35);
  assert.is(r.length, 16 + 160 + 160); assert.is(r.readUInt32LE(0), r.length); assert.is(r.readInt32LE(4), 0);
  assert.is(r.readBigUInt64LE(8), 2n ** 35n);
  assert.equal(r.subarray(16), p.data());
  assert.is(r.readUInt32LE(16 + 144), 5); // namelen in bytes
  assert.is(r.toString('utf8', 16 + 152, 16 + 157), 'é✓');
  assert.is(r.readBigUInt64LE(16 + 160), 6n);
});

test('notifications: unique 0, code in error field', () => {
  const i = E.notifyInvalInode(9, -1, 0);
  assert.is(i.length, 40); assert.is(i.readInt32LE(4), Notify.INVAL_INODE); assert.is(i.readBigUInt64LE(8), 0n);
  assert.is(i.readBigUInt64LE(16), 9n); assert.is(i.readBigInt64LE(24), -1n);
  const e = E.notifyInvalEntry(1, 'nämé');
  assert.is(e.readInt32LE(4), Notify.INVAL_ENTRY); assert.is(e.readUInt32LE(24), 6);
  assert.is(e.length, 16 + 16 + 7); assert.is(e[e.length - 1], 0); assert.is(e.toString('utf8', 32, 38), 'nämé');
});

test.run();
