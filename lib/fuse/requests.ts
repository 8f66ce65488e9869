/**
 * Requests as the kernel sends them (linux/fuse.h layouts), for handing a session work that did
 * not come from /dev/fuse: warming a fresh server's code (lib/mount/warm-up.ts) and tests.
 */
import { writeU64 } from './encode';
import { FATTR, Op, SIZE } from './protocol';

export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

const ROOT_CALLER: Caller = { uid: 0, gid: 0, pid: 1 };

/** fuse_in_header + body. */
export function request(opcode: Op, unique: number, nodeid: number, body: Buffer = Buffer.alloc(0), who: Caller = ROOT_CALLER): Buffer {
  // no BigInt, no zeroing of the body: warm-up and bench/request-path.ts build one per request
  const b = Buffer.allocUnsafe(SIZE.IN_HEADER + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  writeU64(b, 8, unique);
  writeU64(b, 16, nodeid);
  b.writeUInt32LE(who.uid, 24);
  b.writeUInt32LE(who.gid, 28);
  b.writeUInt32LE(who.pid, 32);
  b.writeUInt32LE(0, 36);
  body.copy(b, SIZE.IN_HEADER);
  return b;
}

const names = (...list: string[]) => Buffer.concat(list.map((n) => Buffer.from(n + '\0')));

function fixed(size: number, fill: (b: Buffer) => void, tail?: Buffer): Buffer {
  const b = Buffer.alloc(size);
  fill(b);
  return tail === undefined ? b : Buffer.concat([b, tail]);
}

/** Bodies by operation. */
export const body = {
  /** What the kernel offers at INIT (protocol 7.minor; `flags` as 64 bits, split into flags and flags2). */
  init: (flags: bigint, minor = 45) => fixed(SIZE.INIT_IN, (b) => {
    const high = Number(flags >> 32n) >>> 0;
    b.writeUInt32LE(7, 0);
    b.writeUInt32LE(minor, 4);
    b.writeUInt32LE(128 * 1024, 8);
    b.writeUInt32LE((Number(flags & 0xffffffffn) | (high !== 0 ? 1 << 30 : 0)) >>> 0, 12);
    b.writeUInt32LE(high, 16);
  }),
  name: (name: string) => names(name),
  getattr: (fh?: number) => fixed(SIZE.GETATTR_IN, (b) => {
    if (fh !== undefined) {
      b.writeUInt32LE(1, 0); // FUSE_GETATTR_FH
      b.writeBigUInt64LE(BigInt(fh), 8);
    }
  }),
  read: (fh: number, offset: number, size: number) => fixed(SIZE.READ_IN, (b) => {
    b.writeBigUInt64LE(BigInt(fh), 0);
    b.writeBigUInt64LE(BigInt(offset), 8);
    b.writeUInt32LE(size, 16);
  }),
  write: (fh: number, offset: number, data: Buffer) => fixed(SIZE.WRITE_IN, (b) => {
    b.writeBigUInt64LE(BigInt(fh), 0);
    b.writeBigUInt64LE(BigInt(offset), 8);
    b.writeUInt32LE(data.length, 16);
  }, data),
  open: (flags: number) => fixed(SIZE.OPEN_IN, (b) => b.writeUInt32LE(flags, 0)),
  release: (fh: number, flags = 0) => fixed(SIZE.RELEASE_IN, (b) => {
    b.writeBigUInt64LE(BigInt(fh), 0);
    b.writeUInt32LE(flags, 8);
  }),
  getxattr: (name: string, size: number) => fixed(SIZE.GETXATTR_IN, (b) => b.writeUInt32LE(size, 0), names(name)),
  forget: (nlookup: number) => fixed(SIZE.FORGET_IN, (b) => b.writeBigUInt64LE(BigInt(nlookup), 0)),
  mkdir: (name: string, mode: number, umask = 0o022) => fixed(SIZE.MKDIR_IN, (b) => {
    b.writeUInt32LE(mode, 0);
    b.writeUInt32LE(umask, 4);
  }, names(name)),
  create: (name: string, flags: number, mode: number, umask = 0o022) => fixed(SIZE.CREATE_IN, (b) => {
    b.writeUInt32LE(flags, 0);
    b.writeUInt32LE(mode, 4);
    b.writeUInt32LE(umask, 8);
  }, names(name)),
  symlink: (name: string, target: string) => names(name, target),
  link: (oldNodeid: number, newName: string) => fixed(SIZE.LINK_IN, (b) => b.writeBigUInt64LE(BigInt(oldNodeid), 0), names(newName)),
  rename2: (newParent: number, name: string, newName: string, flags = 0) => fixed(SIZE.RENAME2_IN, (b) => {
    b.writeBigUInt64LE(BigInt(newParent), 0);
    b.writeUInt32LE(flags, 8);
  }, names(name, newName)),
  /** fsync of an open file (datasync: fdatasync). */
  fsync: (fh: number, datasync = false) => fixed(SIZE.FSYNC_IN, (b) => {
    b.writeBigUInt64LE(BigInt(fh), 0);
    b.writeUInt32LE(datasync ? 1 : 0, 8);
  }),
  /** chmod (mode), chown (uid, gid: with KILL_SUIDGID, as the kernel sends it), utimes (seconds), truncate (size). */
  setattr: (a: { mode?: number; mtimeSec?: number; atimeSec?: number; size?: number; uid?: number; gid?: number }) => fixed(SIZE.SETATTR_IN, (b) => {
    let valid = 0;
    if (a.uid !== undefined || a.gid !== undefined) valid |= FATTR.KILL_SUIDGID;
    if (a.uid !== undefined) {
      valid |= FATTR.UID;
      b.writeUInt32LE(a.uid, 76);
    }
    if (a.gid !== undefined) {
      valid |= FATTR.GID;
      b.writeUInt32LE(a.gid, 80);
    }
    if (a.size !== undefined) {
      valid |= FATTR.SIZE;
      b.writeBigUInt64LE(BigInt(a.size), 16);
    }
    if (a.atimeSec !== undefined) {
      valid |= FATTR.ATIME;
      b.writeBigInt64LE(BigInt(a.atimeSec), 32);
    }
    if (a.mtimeSec !== undefined) {
      valid |= FATTR.MTIME;
      b.writeBigInt64LE(BigInt(a.mtimeSec), 40);
    }
    if (a.mode !== undefined) {
      valid |= FATTR.MODE;
      b.writeUInt32LE(a.mode, 68);
    }
    b.writeUInt32LE(valid, 0);
  }),
};
