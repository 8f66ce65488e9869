/** lib/fuse/requests.ts builds what the kernel sends: every request decodes back to what was built. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRequest, INIT, Op } from '../../lib/fuse';
import { body, request } from '../../lib/fuse/requests';

const decode = (op: Op, nodeid: number, b?: Buffer) => decodeRequest(request(op, 9, nodeid, b, { uid: 5, gid: 6, pid: 7 }));

test('header and name bodies', () => {
  const r = decode(Op.LOOKUP, 3, body.name('passwd'));
  assert.equal(r.header, { len: 47, opcode: Op.LOOKUP, unique: 9, nodeid: 3, uid: 5, gid: 6, pid: 7, totalExtlen: 0 });
  assert.equal(r.args, { nodeid: 3, name: 'passwd' });
  assert.equal(decode(Op.READLINK, 4).args, { nodeid: 4 });
});

test('fixed-size bodies with a name or data after them', () => {
  assert.equal(decode(Op.GETATTR, 2, body.getattr(11)).args, { nodeid: 2, fh: 11 });
  assert.equal(decode(Op.GETATTR, 2, body.getattr()).args, { nodeid: 2 });
  assert.equal(decode(Op.OPEN, 2, body.open(0o2)).args, { nodeid: 2, flags: 0o2, openFlags: 0 });
  assert.equal(decode(Op.RELEASE, 2, body.release(12, 1)).args, { nodeid: 2, fh: 12, flags: 1, releaseFlags: 0, lockOwner: 0n });
  assert.equal(decode(Op.READ, 2, body.read(13, 4096, 512)).args, { nodeid: 2, fh: 13, offset: 4096, size: 512, readFlags: 0, lockOwner: 0n, flags: 0 });
  assert.equal(decode(Op.GETXATTR, 2, body.getxattr('user.a', 64)).args, { nodeid: 2, size: 64, name: 'user.a' });
  assert.equal(decode(Op.FORGET, 2, body.forget(3)).args, { nodeid: 2, nlookup: 3 });
  assert.equal(decode(Op.MKDIR, 1, body.mkdir('d', 0o755)).args, { nodeid: 1, mode: 0o755, umask: 0o022, name: 'd' });
  assert.equal(decode(Op.CREATE, 1, body.create('f', 0o101, 0o100644)).args, { nodeid: 1, flags: 0o101, mode: 0o100644, umask: 0o022, openFlags: 0, name: 'f' });
  assert.equal(decode(Op.SYMLINK, 1, body.symlink('s', '../t')).args, { nodeid: 1, name: 's', target: '../t' });
  assert.equal(decode(Op.LINK, 1, body.link(8, 'h')).args, { nodeid: 1, oldNodeid: 8, newName: 'h' });
  assert.equal(decode(Op.RENAME2, 1, body.rename2(2, 'a', 'b', 1)).args, { nodeid: 1, name: 'a', newParent: 2, newName: 'b', flags: 1 });
  const w = decode(Op.WRITE, 2, body.write(14, 100, Buffer.from('data'))).args as { data: Buffer; offset: number; fh: number };
  assert.is(w.data.toString(), 'data');
  assert.is(w.offset, 100);
  assert.is(w.fh, 14);
});

test('init: 64-bit flags travel split, with INIT_EXT', () => {
  const a = decode(Op.INIT, 0, body.init(INIT.PASSTHROUGH | INIT.ASYNC_READ)).args as { major: number; minor: number; flags: bigint };
  assert.is(a.major, 7);
  assert.is(a.minor, 45);
  assert.is(a.flags, INIT.PASSTHROUGH | INIT.ASYNC_READ | INIT.INIT_EXT);
});

test('setattr: only the fields given are valid', () => {
  assert.equal(decode(Op.SETATTR, 2, body.setattr({ mode: 0o100600, mtimeSec: 5, size: 10 })).args, {
    nodeid: 2, valid: 1 | 8 | 32, killSuidgid: false, mode: 0o100600, mtime: { sec: 5, nsec: 0 }, size: 10,
  });
  assert.equal(decode(Op.SETATTR, 2, body.setattr({ atimeSec: 7 })).args, { nodeid: 2, valid: 16, killSuidgid: false, atime: { sec: 7, nsec: 0 } });
  // chown as the kernel sends it: owner fields plus KILL_SUIDGID
  assert.equal(decode(Op.SETATTR, 2, body.setattr({ uid: 0, gid: 100 })).args, { nodeid: 2, valid: 2 | 4 | 2048, killSuidgid: true, uid: 0, gid: 100 });
  assert.equal(decode(Op.FSYNC, 2, body.fsync(15, true)).args, { nodeid: 2, fh: 15, datasync: true });
});

test.run();
