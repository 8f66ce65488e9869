import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRequest, decodeHeader, Op, FATTR, INIT, DecodeError } from '../../lib/fuse';
import type * as D from '../../lib/fuse';

/** build a request: 40-byte fuse_in_header + body (offsets from fuse.h) */
function req(opcode: number, nodeid: number, body: Buffer, unique = 77): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32LE(40 + body.length, 0);
  h.writeUInt32LE(opcode, 4);
  h.writeBigUInt64LE(BigInt(unique), 8);
  h.writeBigUInt64LE(BigInt(nodeid), 16);
  h.writeUInt32LE(1000, 24); h.writeUInt32LE(1001, 28); h.writeUInt32LE(4242, 32);
  return Buffer.concat([h, body]);
}
const z = (s: string) => Buffer.from(`${s}\0`, 'utf8');

test('header: uid/gid/pid/unique/nodeid', () => {
  const h = decodeHeader(req(Op.GETATTR, 0x123456789, Buffer.alloc(16), 2 ** 40 + 5));
  assert.equal(h, { len: 56, opcode: Op.GETATTR, unique: 2 ** 40 + 5, nodeid: 0x123456789, uid: 1000, gid: 1001, pid: 4242, totalExtlen: 0 });
});

test('INIT: flags and flags2 joined into a 64-bit value', () => {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(7, 0); b.writeUInt32LE(45, 4); b.writeUInt32LE(131072, 8);
  b.writeUInt32LE((1 << 30) | 1, 12); // INIT_EXT | ASYNC_READ
  b.writeUInt32LE(1 << 5, 16);        // bit 37: PASSTHROUGH
  const a = decodeRequest(req(Op.INIT, 0, b)).args as D.InitIn;
  assert.is(a.major, 7); assert.is(a.minor, 45); assert.is(a.maxReadahead, 131072);
  assert.ok(a.flags & INIT.PASSTHROUGH);
  assert.ok(a.flags & INIT.ASYNC_READ);
  assert.not.ok(a.flags & INIT.WRITEBACK_CACHE);
});

test('LOOKUP: utf8 name', () => {
  const a = decodeRequest(req(Op.LOOKUP, 1, z('héllo✓'))).args as D.NameIn;
  assert.equal(a, { nodeid: 1, name: 'héllo✓' });
});

test('RENAME and RENAME2: two names, newdir, flags', () => {
  const r1 = Buffer.alloc(8); r1.writeBigUInt64LE(9n, 0);
  assert.equal(decodeRequest(req(Op.RENAME, 3, Buffer.concat([r1, z('a'), z('bé')]))).args,
    { nodeid: 3, name: 'a', newParent: 9, newName: 'bé', flags: 0 });
  const r2 = Buffer.alloc(16); r2.writeBigUInt64LE(10n, 0); r2.writeUInt32LE(2, 8);
  assert.equal(decodeRequest(req(Op.RENAME2, 3, Buffer.concat([r2, z('old'), z('new')]))).args,
    { nodeid: 3, name: 'old', newParent: 10, newName: 'new', flags: 2 });
});

test('SYMLINK: name first, then target', () => {
  assert.equal(decodeRequest(req(Op.SYMLINK, 1, Buffer.concat([z('ln'), z('../t a r')]))).args,
    { nodeid: 1, name: 'ln', target: '../t a r' });
});

test('LINK, MKDIR, MKNOD, CREATE', () => {
  const l = Buffer.alloc(8); l.writeBigUInt64LE(55n, 0);
  assert.equal(decodeRequest(req(Op.LINK, 2, Buffer.concat([l, z('hl')]))).args, { nodeid: 2, oldNodeid: 55, newName: 'hl' });
  const m = Buffer.alloc(8); m.writeUInt32LE(0o755, 0); m.writeUInt32LE(0o22, 4);
  assert.equal(decodeRequest(req(Op.MKDIR, 1, Buffer.concat([m, z('d')]))).args, { nodeid: 1, mode: 0o755, umask: 0o22, name: 'd' });
  const n = Buffer.alloc(16); n.writeUInt32LE(0o10644, 0); n.writeUInt32LE(0x0103, 4); n.writeUInt32LE(0o22, 8);
  assert.equal(decodeRequest(req(Op.MKNOD, 1, Buffer.concat([n, z('f')]))).args,
    { nodeid: 1, mode: 0o10644, rdev: 0x103, umask: 0o22, name: 'f' });
  const c = Buffer.alloc(16); c.writeUInt32LE(0o102, 0); c.writeUInt32LE(0o100600, 4); c.writeUInt32LE(0o77, 8); c.writeUInt32LE(1, 12);
  assert.equal(decodeRequest(req(Op.CREATE, 1, Buffer.concat([c, z('new')]))).args,
    { nodeid: 1, flags: 0o102, mode: 0o100600, umask: 0o77, openFlags: 1, name: 'new' });
});

test('SETATTR: only valid fields, NOW flags, signed times', () => {
  const b = Buffer.alloc(88);
  b.writeUInt32LE(FATTR.MODE | FATTR.SIZE | FATTR.ATIME | FATTR.MTIME_NOW | FATTR.FH | FATTR.UID, 0);
  b.writeBigUInt64LE(12n, 8);            // fh
  b.writeBigUInt64LE(5n * 2n ** 32n, 16); // size > 4 GiB
  b.writeBigInt64LE(-5n, 32);            // atime (before 1970)
  b.writeUInt32LE(999, 56);              // atimensec
  b.writeUInt32LE(0o4755, 68);           // mode
  b.writeUInt32LE(33, 76);               // uid
  b.writeUInt32LE(44, 80);               // gid (not valid)
  const a = decodeRequest(req(Op.SETATTR, 8, b)).args as D.SetattrIn;
  assert.is(a.fh, 12); assert.is(a.size, 5 * 2 ** 32); assert.is(a.mode, 0o4755); assert.is(a.uid, 33);
  assert.is(a.gid, undefined);
  assert.equal(a.atime, { sec: -5, nsec: 999 });
  assert.is(a.mtime, 'now');
  assert.is(a.ctime, undefined);
  assert.is(a.killSuidgid, false);
});

test('READ and WRITE: offsets, sizes, payload (copied when asked)', () => {
  const r = Buffer.alloc(40);
  r.writeBigUInt64LE(3n, 0); r.writeBigUInt64LE(8192n, 8); r.writeUInt32LE(4096, 16); r.writeUInt32LE(2, 20);
  r.writeBigUInt64LE(0xdeadbeefcafef00dn, 24); r.writeUInt32LE(0o2, 32);
  assert.equal(decodeRequest(req(Op.READ, 7, r)).args,
    { nodeid: 7, fh: 3, offset: 8192, size: 4096, readFlags: 2, lockOwner: 0xdeadbeefcafef00dn, flags: 2 });
  const w = Buffer.alloc(40);
  w.writeBigUInt64LE(4n, 0); w.writeBigUInt64LE(100n, 8); w.writeUInt32LE(5, 16); w.writeUInt32LE(1, 20);
  const buf = req(Op.WRITE, 7, Buffer.concat([w, Buffer.from('hello')]));
  const view = decodeRequest(buf).args as D.WriteIn;
  assert.is(view.data.toString(), 'hello'); assert.is(view.fh, 4); assert.is(view.offset, 100); assert.is(view.writeFlags, 1);
  const copied = decodeRequest(buf, buf.length, { copyPayload: true }).args as D.WriteIn;
  buf.fill(0x41, 80);
  assert.is(view.data.toString(), 'AAAAA');
  assert.is(copied.data.toString(), 'hello');
});

test('SETXATTR: 8-byte compat layout vs 16-byte SETXATTR_EXT layout', () => {
  const compat = Buffer.alloc(8); compat.writeUInt32LE(3, 0); compat.writeUInt32LE(1, 4);
  assert.equal(decodeRequest(req(Op.SETXATTR, 5, Buffer.concat([compat, z('user.x'), Buffer.from('abc')]))).args,
    { nodeid: 5, name: 'user.x', value: Buffer.from('abc'), flags: 1, setxattrFlags: 0 });
  const ext = Buffer.alloc(16); ext.writeUInt32LE(3, 0); ext.writeUInt32LE(2, 4); ext.writeUInt32LE(1, 8);
  const a = decodeRequest(req(Op.SETXATTR, 5, Buffer.concat([ext, z('user.y'), Buffer.from('xyz')])), undefined,
    { setxattrExt: true }).args as D.SetxattrIn;
  assert.equal(a, { nodeid: 5, name: 'user.y', value: Buffer.from('xyz'), flags: 2, setxattrFlags: 1 });
});

test('GETXATTR, LISTXATTR, ACCESS, OPEN, RELEASE, FLUSH, FSYNC', () => {
  const g = Buffer.alloc(8); g.writeUInt32LE(64, 0);
  assert.equal(decodeRequest(req(Op.GETXATTR, 2, Buffer.concat([g, z('trusted.overlay.opaque')]))).args,
    { nodeid: 2, size: 64, name: 'trusted.overlay.opaque' });
  assert.equal(decodeRequest(req(Op.LISTXATTR, 2, g)).args, { nodeid: 2, size: 64 });
  const acc = Buffer.alloc(8); acc.writeUInt32LE(4, 0);
  assert.equal(decodeRequest(req(Op.ACCESS, 2, acc)).args, { nodeid: 2, mask: 4 });
  const o = Buffer.alloc(8); o.writeUInt32LE(0o100002, 0);
  assert.equal(decodeRequest(req(Op.OPEN, 2, o)).args, { nodeid: 2, flags: 0o100002, openFlags: 0 });
  const rel = Buffer.alloc(24); rel.writeBigUInt64LE(9n, 0); rel.writeUInt32LE(2, 8); rel.writeUInt32LE(1, 12); rel.writeBigUInt64LE(5n, 16);
  assert.equal(decodeRequest(req(Op.RELEASE, 2, rel)).args, { nodeid: 2, fh: 9, flags: 2, releaseFlags: 1, lockOwner: 5n });
  const fl = Buffer.alloc(24); fl.writeBigUInt64LE(9n, 0); fl.writeBigUInt64LE(6n, 16);
  assert.equal(decodeRequest(req(Op.FLUSH, 2, fl)).args, { nodeid: 2, fh: 9, lockOwner: 6n });
  const fs = Buffer.alloc(16); fs.writeBigUInt64LE(9n, 0); fs.writeUInt32LE(1, 8);
  assert.equal(decodeRequest(req(Op.FSYNC, 2, fs)).args, { nodeid: 2, fh: 9, datasync: true });
});

test('FORGET, BATCH_FORGET, INTERRUPT, LSEEK, FALLOCATE, COPY_FILE_RANGE', () => {
  const f = Buffer.alloc(8); f.writeBigUInt64LE(3n, 0);
  assert.equal(decodeRequest(req(Op.FORGET, 9, f)).args, { nodeid: 9, nlookup: 3 });
  const bf = Buffer.alloc(8 + 32); bf.writeUInt32LE(2, 0);
  bf.writeBigUInt64LE(11n, 8); bf.writeBigUInt64LE(1n, 16); bf.writeBigUInt64LE(12n, 24); bf.writeBigUInt64LE(7n, 32);
  assert.equal((decodeRequest(req(Op.BATCH_FORGET, 0, bf)).args as D.BatchForgetIn).forgets,
    [{ nodeid: 11, nlookup: 1 }, { nodeid: 12, nlookup: 7 }]);
  const i = Buffer.alloc(8); i.writeBigUInt64LE(1234n, 0);
  assert.equal(decodeRequest(req(Op.INTERRUPT, 0, i)).args, { nodeid: 0, unique: 1234 });
  const ls = Buffer.alloc(24); ls.writeBigUInt64LE(1n, 0); ls.writeBigUInt64LE(4096n, 8); ls.writeUInt32LE(3, 16);
  assert.equal(decodeRequest(req(Op.LSEEK, 4, ls)).args, { nodeid: 4, fh: 1, offset: 4096, whence: 3 });
  const fa = Buffer.alloc(32); fa.writeBigUInt64LE(1n, 0); fa.writeBigUInt64LE(10n, 8); fa.writeBigUInt64LE(20n, 16); fa.writeUInt32LE(3, 24);
  assert.equal(decodeRequest(req(Op.FALLOCATE, 4, fa)).args, { nodeid: 4, fh: 1, offset: 10, length: 20, mode: 3 });
  const c = Buffer.alloc(56);
  [1n, 2n, 3n, 4n, 5n, 6n].forEach((v, k) => c.writeBigUInt64LE(v, k * 8)); c.writeBigUInt64LE(0n, 48);
  assert.equal(decodeRequest(req(Op.COPY_FILE_RANGE, 4, c)).args,
    { nodeid: 4, fhIn: 1, offIn: 2, nodeidOut: 3, fhOut: 4, offOut: 5, len: 6, flags: 0 });
});

test('malformed: truncated body, missing NUL, length mismatch', () => {
  assert.throws(() => decodeRequest(req(Op.READ, 1, Buffer.alloc(10))), (e: unknown) => e instanceof DecodeError);
  assert.throws(() => decodeRequest(req(Op.LOOKUP, 1, Buffer.from('abc'))), /NUL/);
  const b = req(Op.STATFS, 1, Buffer.alloc(0));
  assert.throws(() => decodeRequest(Buffer.concat([b, Buffer.alloc(8)])), /length mismatch/);
});

test('extensions (total_extlen) are not part of the name area', () => {
  const b = req(Op.LOOKUP, 1, Buffer.concat([z('n'), Buffer.alloc(6), Buffer.alloc(8, 0x55)]));
  b.writeUInt16LE(1, 36);
  assert.equal(decodeRequest(b).args, { nodeid: 1, name: 'n' });
});

test.run();
