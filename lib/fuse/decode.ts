/**
 * Request decoding: fuse_in_header plus one typed decoder per opcode. All integers little-endian.
 * 64-bit fields become numbers (exact below 2^53, which covers node ids, handles and offsets we hand
 * out), except lock owners, which are opaque hashes and stay bigint.
 */
import { Op, SIZE, FATTR, FSYNC_FDATASYNC } from './protocol';

export interface InHeader {
  len: number; opcode: number; unique: number; nodeid: number;
  uid: number; gid: number; pid: number; totalExtlen: number;
}

export function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x100000000;
}

export function i64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readInt32LE(off + 4) * 0x100000000;
}

export function decodeHeader(b: Buffer): InHeader {
  if (b.length < SIZE.IN_HEADER) throw new DecodeError(`short request: ${b.length} bytes`);
  return {
    len: b.readUInt32LE(0), opcode: b.readUInt32LE(4), unique: u64(b, 8), nodeid: u64(b, 16),
    uid: b.readUInt32LE(24), gid: b.readUInt32LE(28), pid: b.readUInt32LE(32), totalExtlen: b.readUInt16LE(36),
  };
}

export class DecodeError extends Error {
  readonly errno = 22; // EINVAL
  constructor(msg: string) { super(msg); this.name = 'DecodeError'; }
}

/** decoding state: the body window and negotiated bits that change layouts */
export interface DecodeOpts {
  /** FUSE_SETXATTR_EXT negotiated: setxattr_in is 16 bytes instead of 8 */
  setxattrExt?: boolean;
  /** copy WRITE/SETXATTR payloads out of the request buffer (needed when that buffer is reused) */
  copyPayload?: boolean;
}

class Body {
  constructor(public b: Buffer, public pos: number, public end: number, public copy: boolean) {}
  need(n: number): void {
    if (this.pos + n > this.end) throw new DecodeError(`truncated request body (${this.end - this.pos} < ${n})`);
  }
  u32(off: number): number { this.need(off + 4); return this.b.readUInt32LE(this.pos + off); }
  u64(off: number): number { this.need(off + 8); return u64(this.b, this.pos + off); }
  i64(off: number): number { this.need(off + 8); return i64(this.b, this.pos + off); }
  big(off: number): bigint { this.need(off + 8); return this.b.readBigUInt64LE(this.pos + off); }
  skip(n: number): this { this.need(n); this.pos += n; return this; }
  /** a NUL-terminated utf8 name at pos; advances past the NUL */
  name(): string {
    const nul = this.b.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new DecodeError('name not NUL-terminated');
    const s = this.b.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return this.copy ? Buffer.from(v) : v;
  }
}

export interface InitIn { nodeid: number; major: number; minor: number; maxReadahead: number; flags: bigint }
export interface ForgetIn { nodeid: number; nlookup: number }
export interface BatchForgetIn { nodeid: number; forgets: ForgetIn[] }
export interface NodeIn { nodeid: number }
export interface NameIn { nodeid: number; name: string }
export interface GetattrIn { nodeid: number; fh?: number }
export interface Timespec { sec: number; nsec: number }
export interface SetattrIn {
  nodeid: number; valid: number; fh?: number; size?: number; lockOwner?: bigint; mode?: number;
  uid?: number; gid?: number; atime?: Timespec | 'now'; mtime?: Timespec | 'now'; ctime?: Timespec;
  killSuidgid: boolean;
}
export interface SymlinkIn { nodeid: number; name: string; target: string }
export interface MknodIn { nodeid: number; name: string; mode: number; rdev: number; umask: number }
export interface MkdirIn { nodeid: number; name: string; mode: number; umask: number }
export interface RenameIn { nodeid: number; name: string; newParent: number; newName: string; flags: number }
export interface LinkIn { nodeid: number; oldNodeid: number; newName: string }
export interface OpenIn { nodeid: number; flags: number; openFlags: number }
export interface CreateIn { nodeid: number; name: string; flags: number; mode: number; umask: number; openFlags: number }
export interface ReadIn {
  nodeid: number; fh: number; offset: number; size: number; readFlags: number; lockOwner: bigint; flags: number;
}
export interface WriteIn {
  nodeid: number; fh: number; offset: number; data: Buffer; writeFlags: number; lockOwner: bigint; flags: number;
}
export interface FlushIn { nodeid: number; fh: number; lockOwner: bigint }
export interface ReleaseIn { nodeid: number; fh: number; flags: number; releaseFlags: number; lockOwner: bigint }
export interface FsyncIn { nodeid: number; fh: number; datasync: boolean }
export interface AccessIn { nodeid: number; mask: number }
export interface GetxattrIn { nodeid: number; name: string; size: number }
export interface ListxattrIn { nodeid: number; size: number }
export interface SetxattrIn { nodeid: number; name: string; value: Buffer; flags: number; setxattrFlags: number }
export interface FallocateIn { nodeid: number; fh: number; offset: number; length: number; mode: number }
export interface LseekIn { nodeid: number; fh: number; offset: number; whence: number }
export interface CopyFileRangeIn {
  nodeid: number; fhIn: number; offIn: number; nodeidOut: number; fhOut: number; offOut: number;
  len: number; flags: number;
}
export interface InterruptIn { nodeid: number; unique: number }

function readIn(h: InHeader, d: Body): ReadIn {
  return {
    nodeid: h.nodeid, fh: d.u64(0), offset: d.u64(8), size: d.u32(16), readFlags: d.u32(20),
    lockOwner: d.big(24), flags: d.u32(32),
  };
}

function releaseIn(h: InHeader, d: Body): ReleaseIn {
  return { nodeid: h.nodeid, fh: d.u64(0), flags: d.u32(8), releaseFlags: d.u32(12), lockOwner: d.big(16) };
}

function fsyncIn(h: InHeader, d: Body): FsyncIn {
  return { nodeid: h.nodeid, fh: d.u64(0), datasync: (d.u32(8) & FSYNC_FDATASYNC) !== 0 };
}

function openIn(h: InHeader, d: Body): OpenIn {
  return { nodeid: h.nodeid, flags: d.u32(0), openFlags: d.u32(4) };
}

const nameIn = (h: InHeader, d: Body): NameIn => ({ nodeid: h.nodeid, name: d.name() });
const nodeIn = (h: InHeader): NodeIn => ({ nodeid: h.nodeid });

type Decoder = (h: InHeader, d: Body, o: DecodeOpts) => unknown;

const decoders: Partial<Record<Op, Decoder>> = {
  [Op.INIT]: (h, d) => {
    const minor = d.u32(4);
    const flags = d.u32(12);
    // flags2 exists from 7.36 (when the kernel sets FUSE_INIT_EXT)
    const flags2 = minor >= 36 && d.end - d.pos >= 20 && (flags & (1 << 30)) ? d.u32(16) : 0;
    return {
      nodeid: h.nodeid, major: d.u32(0), minor, maxReadahead: d.u32(8),
      flags: (BigInt(flags2 >>> 0) << 32n) | BigInt(flags >>> 0),
    } satisfies InitIn;
  },
  [Op.LOOKUP]: nameIn,
  [Op.FORGET]: (h, d) => ({ nodeid: h.nodeid, nlookup: d.u64(0) } satisfies ForgetIn),
  [Op.BATCH_FORGET]: (h, d) => {
    const count = d.u32(0);
    d.skip(SIZE.BATCH_FORGET_IN);
    const forgets: ForgetIn[] = [];
    for (let i = 0; i < count; i++) {
      forgets.push({ nodeid: d.u64(0), nlookup: d.u64(8) });
      d.skip(SIZE.FORGET_ONE);
    }
    return { nodeid: h.nodeid, forgets } satisfies BatchForgetIn;
  },
  [Op.GETATTR]: (h, d) => {
    // fuse_getattr_in (7.9+); fh valid only with FUSE_GETATTR_FH
    if (d.end - d.pos < SIZE.GETATTR_IN) return { nodeid: h.nodeid } satisfies GetattrIn;
    const r: GetattrIn = { nodeid: h.nodeid };
    if (d.u32(0) & 1) r.fh = d.u64(8);
    return r;
  },
  [Op.SETATTR]: (h, d) => {
    const valid = d.u32(0);
    const r: SetattrIn = { nodeid: h.nodeid, valid, killSuidgid: (valid & FATTR.KILL_SUIDGID) !== 0 };
    d.need(SIZE.SETATTR_IN);
    if (valid & FATTR.FH) r.fh = d.u64(8);
    if (valid & FATTR.SIZE) r.size = d.u64(16);
    if (valid & FATTR.LOCKOWNER) r.lockOwner = d.big(24);
    if (valid & FATTR.ATIME_NOW) r.atime = 'now';
    else if (valid & FATTR.ATIME) r.atime = { sec: d.i64(32), nsec: d.u32(56) };
    if (valid & FATTR.MTIME_NOW) r.mtime = 'now';
    else if (valid & FATTR.MTIME) r.mtime = { sec: d.i64(40), nsec: d.u32(60) };
    if (valid & FATTR.CTIME) r.ctime = { sec: d.i64(48), nsec: d.u32(64) };
    if (valid & FATTR.MODE) r.mode = d.u32(68);
    if (valid & FATTR.UID) r.uid = d.u32(76);
    if (valid & FATTR.GID) r.gid = d.u32(80);
    return r;
  },
  [Op.READLINK]: nodeIn,
  [Op.SYMLINK]: (h, d) => {
    const name = d.name();
    return { nodeid: h.nodeid, name, target: d.name() } satisfies SymlinkIn;
  },
  [Op.MKNOD]: (h, d) => {
    const mode = d.u32(0), rdev = d.u32(4), umask = d.u32(8);
    d.skip(SIZE.MKNOD_IN);
    return { nodeid: h.nodeid, mode, rdev, umask, name: d.name() } satisfies MknodIn;
  },
  [Op.MKDIR]: (h, d) => {
    const mode = d.u32(0), umask = d.u32(4);
    d.skip(SIZE.MKDIR_IN);
    return { nodeid: h.nodeid, mode, umask, name: d.name() } satisfies MkdirIn;
  },
  [Op.UNLINK]: nameIn,
  [Op.RMDIR]: nameIn,
  [Op.RENAME]: (h, d) => {
    const newParent = d.u64(0);
    d.skip(SIZE.RENAME_IN);
    const name = d.name();
    return { nodeid: h.nodeid, name, newParent, newName: d.name(), flags: 0 } satisfies RenameIn;
  },
  [Op.RENAME2]: (h, d) => {
    const newParent = d.u64(0), flags = d.u32(8);
    d.skip(SIZE.RENAME2_IN);
    const name = d.name();
    return { nodeid: h.nodeid, name, newParent, newName: d.name(), flags } satisfies RenameIn;
  },
  [Op.LINK]: (h, d) => {
    const oldNodeid = d.u64(0);
    d.skip(SIZE.LINK_IN);
    return { nodeid: h.nodeid, oldNodeid, newName: d.name() } satisfies LinkIn;
  },
  [Op.OPEN]: openIn,
  [Op.OPENDIR]: openIn,
  [Op.CREATE]: (h, d) => {
    const flags = d.u32(0), mode = d.u32(4), umask = d.u32(8), openFlags = d.u32(12);
    d.skip(SIZE.CREATE_IN);
    return { nodeid: h.nodeid, flags, mode, umask, openFlags, name: d.name() } satisfies CreateIn;
  },
  [Op.READ]: readIn,
  [Op.READDIR]: readIn,
  [Op.READDIRPLUS]: readIn,
  [Op.WRITE]: (h, d) => {
    const fh = d.u64(0), offset = d.u64(8), size = d.u32(16), writeFlags = d.u32(20);
    const lockOwner = d.big(24), flags = d.u32(32);
    d.skip(SIZE.WRITE_IN);
    return { nodeid: h.nodeid, fh, offset, writeFlags, lockOwner, flags, data: d.bytes(size) } satisfies WriteIn;
  },
  [Op.FLUSH]: (h, d) => ({ nodeid: h.nodeid, fh: d.u64(0), lockOwner: d.big(16) } satisfies FlushIn),
  [Op.RELEASE]: releaseIn,
  [Op.RELEASEDIR]: releaseIn,
  [Op.FSYNC]: fsyncIn,
  [Op.FSYNCDIR]: fsyncIn,
  [Op.STATFS]: nodeIn,
  [Op.ACCESS]: (h, d) => ({ nodeid: h.nodeid, mask: d.u32(0) } satisfies AccessIn),
  [Op.GETXATTR]: (h, d) => {
    const size = d.u32(0);
    d.skip(SIZE.GETXATTR_IN);
    return { nodeid: h.nodeid, size, name: d.name() } satisfies GetxattrIn;
  },
  [Op.LISTXATTR]: (h, d) => ({ nodeid: h.nodeid, size: d.u32(0) } satisfies ListxattrIn),
  [Op.SETXATTR]: (h, d, o) => {
    const size = d.u32(0), flags = d.u32(4);
    const setxattrFlags = o.setxattrExt ? d.u32(8) : 0;
    d.skip(o.setxattrExt ? SIZE.SETXATTR_IN : SIZE.COMPAT_SETXATTR_IN);
    const name = d.name();
    return { nodeid: h.nodeid, name, value: d.bytes(size), flags, setxattrFlags } satisfies SetxattrIn;
  },
  [Op.REMOVEXATTR]: nameIn,
  [Op.FALLOCATE]: (h, d) => ({
    nodeid: h.nodeid, fh: d.u64(0), offset: d.u64(8), length: d.u64(16), mode: d.u32(24),
  } satisfies FallocateIn),
  [Op.LSEEK]: (h, d) => ({ nodeid: h.nodeid, fh: d.u64(0), offset: d.i64(8), whence: d.u32(16) } satisfies LseekIn),
  [Op.COPY_FILE_RANGE]: (h, d) => ({
    nodeid: h.nodeid, fhIn: d.u64(0), offIn: d.u64(8), nodeidOut: d.u64(16), fhOut: d.u64(24),
    offOut: d.u64(32), len: d.u64(40), flags: d.u32(48),
  } satisfies CopyFileRangeIn),
  [Op.INTERRUPT]: (h, d) => ({ nodeid: h.nodeid, unique: d.u64(0) } satisfies InterruptIn),
  [Op.DESTROY]: nodeIn,
  [Op.SYNCFS]: nodeIn,
};

export function hasDecoder(opcode: number): boolean {
  return decoders[opcode as Op] !== undefined;
}

export interface Request<T = unknown> { header: InHeader; args: T }

/**
 * Decode the request in buf[0, len). Throws DecodeError on malformed input; unknown opcodes
 * decode to { nodeid } (the session answers them ENOSYS). `header`: decodeHeader(buf), when the
 * caller has it already.
 */
export function decodeRequest(buf: Buffer, len = buf.length, opts: DecodeOpts = {}, header: InHeader = decodeHeader(buf)): Request {
  return { header, args: decodeArgs(buf, len, opts, header) };
}

/**
 * One Body for every request: decoding is synchronous and a decoder never keeps it (the session
 * decodes each request read, so this spares an object per request).
 */
const EMPTY = Buffer.alloc(0);
const shared = new Body(EMPTY, 0, 0, false);

/** The args of the request in buf[0, len) (`buf` may be longer: the reader's whole buffer). */
export function decodeArgs(buf: Buffer, len: number, opts: DecodeOpts, header: InHeader): unknown {
  if (header.len !== len || len > buf.length) throw new DecodeError(`length mismatch: header ${header.len}, read ${len}`);
  // extensions (security context, supplementary groups) sit at the end: not part of the args
  const end = len - header.totalExtlen * 8;
  if (end < SIZE.IN_HEADER) throw new DecodeError('bad total_extlen');
  const dec = decoders[header.opcode as Op];
  if (dec === undefined) return { nodeid: header.nodeid };
  const body = shared;
  body.b = buf; body.pos = SIZE.IN_HEADER; body.end = end; body.copy = opts.copyPayload === true;
  try {
    return dec(header, body, opts);
  } finally {
    body.b = EMPTY; // the request's buffer is not kept alive by the decoder
  }
}
