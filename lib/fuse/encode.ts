/**
 * Reply and notification builders. Each returns one Buffer holding fuse_out_header + body, ready for a
 * single write to /dev/fuse. Timeouts are in seconds (fractions allowed).
 */
import { SIZE, Notify, align8, FOPEN, splitFlags } from './protocol';

export interface FuseAttr {
  ino: number; size: number; blocks: number;
  atimeSec: number; atimeNsec: number; mtimeSec: number; mtimeNsec: number; ctimeSec: number; ctimeNsec: number;
  /** S_IF* | permission bits */
  mode: number; nlink: number; uid: number; gid: number;
  /** new_encode_dev form (as stat's st_rdev on Linux) */
  rdev: number; blksize: number; flags?: number;
}

export interface FuseEntry {
  /** 0 = negative entry (cached ENOENT for entryTimeout) */
  nodeid: number; generation?: number; attr: FuseAttr;
  entryTimeout?: number; attrTimeout?: number;
}

export interface FuseStatfs {
  blocks: number; bfree: number; bavail: number; files: number; ffree: number;
  bsize: number; namelen: number; frsize: number;
}

/**
 * A 32-bit little-endian integer (its low 32 bits, signed or not) at b[off, off+4), which the caller
 * has sized: byte stores, without Buffer.writeUInt32LE's range checks (the reply path writes ~40 per
 * reply).
 */
export function w32(b: Buffer, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}

export function writeU64(b: Buffer, off: number, v: number): void {
  if (v >= 0 && v <= 0xffffffff) {
    w32(b, off, v);
    w32(b, off + 4, 0);
    return;
  }
  w32(b, off, v % 0x100000000);
  w32(b, off + 4, Math.floor(v / 0x100000000));
}

/** A signed 64-bit little-endian integer (two 32-bit halves: no BigInt on the reply path). */
export function writeI64(b: Buffer, off: number, v: number): void {
  const n = Math.trunc(v);
  const hi = Math.floor(n / 0x100000000);
  w32(b, off, n - hi * 0x100000000);
  w32(b, off + 4, hi);
}

/** fuse_out_header in b[0, 16) */
export function writeOutHeader(b: Buffer, unique: number, error = 0, len = b.length): void {
  w32(b, 0, len);
  w32(b, 4, error);
  writeU64(b, 8, unique);
}

/**
 * A zeroed buffer for one message. Small ones are slices of Node's shared pool (allocUnsafe), zeroed
 * here: Buffer.alloc would make an ArrayBuffer of its own for each reply, 4x the cost, and more for
 * the garbage collector to track.
 */
export function zeroed(size: number): Buffer {
  return Buffer.allocUnsafe(size).fill(0);
}

export function outBuf(unique: number, bodySize: number): Buffer {
  const b = zeroed(SIZE.OUT_HEADER + bodySize);
  writeOutHeader(b, unique);
  return b;
}

/** As outBuf, not zeroed: for replies whose builder writes every byte of the body. */
function fullBuf(unique: number, bodySize: number): Buffer {
  const b = Buffer.allocUnsafe(SIZE.OUT_HEADER + bodySize);
  writeOutHeader(b, unique);
  return b;
}

/** error reply: errno positive (sent negated); 0 for a bodyless success */
export function errorReply(unique: number, errno: number): Buffer {
  const b = Buffer.allocUnsafe(SIZE.OUT_HEADER);
  writeOutHeader(b, unique, errno === 0 ? 0 : -Math.abs(errno));
  return b;
}

export function emptyReply(unique: number): Buffer {
  return errorReply(unique, 0);
}

/** A timeout in seconds as whole seconds and nanoseconds. */
const timeoutSec = (t: number): number => (t > 0 ? Math.floor(t) : 0);
const timeoutNsec = (t: number): number => (t > 0 ? Math.min(999999999, Math.round((t - Math.floor(t)) * 1e9)) : 0);

export function writeAttr(b: Buffer, off: number, a: FuseAttr): void {
  writeU64(b, off, a.ino);
  writeU64(b, off + 8, a.size);
  writeU64(b, off + 16, a.blocks);
  writeI64(b, off + 24, a.atimeSec);
  writeI64(b, off + 32, a.mtimeSec);
  writeI64(b, off + 40, a.ctimeSec);
  w32(b, off + 48, a.atimeNsec);
  w32(b, off + 52, a.mtimeNsec);
  w32(b, off + 56, a.ctimeNsec);
  w32(b, off + 60, a.mode);
  w32(b, off + 64, a.nlink);
  w32(b, off + 68, a.uid);
  w32(b, off + 72, a.gid);
  w32(b, off + 76, a.rdev);
  w32(b, off + 80, a.blksize);
  w32(b, off + 84, a.flags ?? 0);
}

/** fuse_entry_out at b[off, off+128) */
export function writeEntry(b: Buffer, off: number, e: FuseEntry, dflt: { entry: number; attr: number }): void {
  const entry = e.entryTimeout ?? dflt.entry, attr = e.attrTimeout ?? dflt.attr;
  writeU64(b, off, e.nodeid);
  writeU64(b, off + 8, e.generation ?? 0);
  writeU64(b, off + 16, timeoutSec(entry));
  writeU64(b, off + 24, timeoutSec(attr));
  w32(b, off + 32, timeoutNsec(entry));
  w32(b, off + 36, timeoutNsec(attr));
  writeAttr(b, off + 40, e.attr);
}

export const DEFAULT_TIMEOUTS = { entry: 1, attr: 1 };

export function entryReply(unique: number, e: FuseEntry, dflt = DEFAULT_TIMEOUTS): Buffer {
  const b = fullBuf(unique, SIZE.ENTRY_OUT); // entry_out: 40 bytes + attr, all written
  writeEntry(b, SIZE.OUT_HEADER, e, dflt);
  return b;
}

export function attrReply(unique: number, attr: FuseAttr, attrTimeout = DEFAULT_TIMEOUTS.attr): Buffer {
  const b = fullBuf(unique, SIZE.ATTR_OUT);
  writeU64(b, 16, timeoutSec(attrTimeout));
  w32(b, 24, timeoutNsec(attrTimeout));
  w32(b, 28, 0); // dummy
  writeAttr(b, 32, attr);
  return b;
}

export interface OpenOut {
  fh: number;
  /** FOPEN_* bits */
  openFlags?: number;
  /** passthrough: id from FUSE_DEV_IOC_BACKING_OPEN (FOPEN_PASSTHROUGH is added) */
  backingId?: number;
}

function writeOpen(b: Buffer, off: number, o: OpenOut): void {
  writeU64(b, off, o.fh);
  let flags = o.openFlags ?? 0;
  if (o.backingId) flags |= FOPEN.PASSTHROUGH;
  w32(b, off + 8, flags);
  w32(b, off + 12, o.backingId ?? 0);
}

export function openReply(unique: number, o: OpenOut): Buffer {
  const b = fullBuf(unique, SIZE.OPEN_OUT); // fh, open_flags, backing_id
  writeOpen(b, 16, o);
  return b;
}

/** CREATE: entry_out followed by open_out */
export function createReply(unique: number, e: FuseEntry, o: OpenOut, dflt = DEFAULT_TIMEOUTS): Buffer {
  const b = fullBuf(unique, SIZE.ENTRY_OUT + SIZE.OPEN_OUT);
  writeEntry(b, 16, e, dflt);
  writeOpen(b, 16 + SIZE.ENTRY_OUT, o);
  return b;
}

export function writeReply(unique: number, size: number): Buffer {
  const b = outBuf(unique, SIZE.WRITE_OUT);
  b.writeUInt32LE(size >>> 0, 16);
  return b;
}

export function statfsReply(unique: number, s: FuseStatfs): Buffer {
  const b = outBuf(unique, SIZE.STATFS_OUT);
  writeU64(b, 16, s.blocks);
  writeU64(b, 24, s.bfree);
  writeU64(b, 32, s.bavail);
  writeU64(b, 40, s.files);
  writeU64(b, 48, s.ffree);
  b.writeUInt32LE(s.bsize >>> 0, 56);
  b.writeUInt32LE(s.namelen >>> 0, 60);
  b.writeUInt32LE(s.frsize >>> 0, 64);
  return b;
}

/** size query answer of GETXATTR/LISTXATTR (request size 0) */
export function xattrSizeReply(unique: number, size: number): Buffer {
  const b = outBuf(unique, SIZE.GETXATTR_OUT);
  b.writeUInt32LE(size >>> 0, 16);
  return b;
}

export function lseekReply(unique: number, offset: number): Buffer {
  const b = outBuf(unique, SIZE.LSEEK_OUT);
  writeU64(b, 16, offset);
  return b;
}

/** reply whose body is raw bytes (READ, READLINK, GETXATTR value, LISTXATTR list, READDIR) */
export function dataReply(unique: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(SIZE.OUT_HEADER + data.length);
  writeOutHeader(b, unique);
  b.set(data, SIZE.OUT_HEADER);
  return b;
}

/** just the out header for a reply of bodyLen bytes (to writev with the body, no copy) */
export function dataHeader(unique: number, bodyLen: number): Buffer {
  const b = Buffer.allocUnsafe(SIZE.OUT_HEADER);
  writeOutHeader(b, unique, 0, SIZE.OUT_HEADER + bodyLen);
  return b;
}

export interface InitOut {
  major: number; minor: number; maxReadahead: number; flags: bigint; maxBackground: number;
  congestionThreshold: number; maxWrite: number; timeGran: number; maxPages: number; mapAlignment?: number;
  maxStackDepth?: number; requestTimeout?: number;
}

/** fuse_init_out (64 bytes, 7.23+ layout incl. flags2 (7.36), max_stack_depth (7.40), request_timeout (7.43)) */
export function initReply(unique: number, o: InitOut): Buffer {
  const b = outBuf(unique, SIZE.INIT_OUT);
  const { flags, flags2 } = splitFlags(o.flags);
  b.writeUInt32LE(o.major, 16);
  b.writeUInt32LE(o.minor, 20);
  b.writeUInt32LE(o.maxReadahead >>> 0, 24);
  b.writeUInt32LE(flags >>> 0, 28);
  b.writeUInt16LE(o.maxBackground, 32);
  b.writeUInt16LE(o.congestionThreshold, 34);
  b.writeUInt32LE(o.maxWrite >>> 0, 36);
  b.writeUInt32LE(o.timeGran >>> 0, 40);
  b.writeUInt16LE(o.maxPages, 44);
  b.writeUInt16LE(o.mapAlignment ?? 0, 46);
  b.writeUInt32LE(flags2 >>> 0, 48);
  b.writeUInt32LE(o.maxStackDepth ?? 0, 52);
  b.writeUInt16LE(o.requestTimeout ?? 0, 56);
  return b;
}

/** a directory entry for READDIR/READDIRPLUS packing */
export interface DirEntry {
  name: string;
  ino: number;
  /** DT_* (S_IFMT >> 12) */
  type: number;
  /** cookie of the entry after this one (the offset the next READDIR continues from) */
  off: number;
}

/**
 * Pack fuse_dirent records (24-byte header + name, padded to 8) into at most `size` bytes.
 * Returns the packed body and how many entries fit (an entry never straddles the limit).
 */
export function packDirents(entries: readonly DirEntry[], size: number): { data: Buffer; count: number } {
  const buf = Buffer.alloc(size);
  let pos = 0, count = 0;
  for (const e of entries) {
    const nameLen = Buffer.byteLength(e.name, 'utf8');
    const rec = align8(SIZE.DIRENT + nameLen);
    if (pos + rec > size) break;
    writeU64(buf, pos, e.ino);
    writeU64(buf, pos + 8, e.off);
    w32(buf, pos + 16, nameLen);
    w32(buf, pos + 20, e.type);
    buf.write(e.name, pos + 24, nameLen, 'utf8');
    pos += rec;
    count++;
  }
  return { data: buf.subarray(0, pos), count };
}

/** size of one direntplus record for a name of nameBytes bytes */
export function direntplusSize(nameBytes: number): number {
  return align8(SIZE.DIRENTPLUS + nameBytes);
}

/**
 * Incremental fuse_direntplus packer (entry_out + dirent): READDIRPLUS must only produce lookups for
 * entries that fit, so callers check fits() before resolving the entry, then add().
 */
export class DirentPlusPacker {
  /** the reply: out header, then the records (no copy into a reply buffer at the end) */
  private readonly buf: Buffer;
  private pos = SIZE.OUT_HEADER;
  count = 0;
  /** the name fits() measured last, and its length in bytes (add() follows fits() for the same name) */
  private lastName = '';
  private lastLen = 0;
  constructor(readonly size: number, private readonly dflt = DEFAULT_TIMEOUTS) { this.buf = Buffer.alloc(SIZE.OUT_HEADER + size); }
  private byteLength(name: string): number {
    if (name !== this.lastName) {
      this.lastName = name;
      this.lastLen = Buffer.byteLength(name, 'utf8');
    }
    return this.lastLen;
  }
  fits(name: string): boolean {
    return this.pos + direntplusSize(this.byteLength(name)) <= SIZE.OUT_HEADER + this.size;
  }
  /** entry undefined (or nodeid 0): the kernel gets the name and type only, no lookup is implied */
  add(d: DirEntry, entry?: FuseEntry): boolean {
    const nameLen = this.byteLength(d.name);
    const rec = direntplusSize(nameLen);
    if (this.pos + rec > SIZE.OUT_HEADER + this.size) return false;
    const p = this.pos, b = this.buf;
    if (entry && entry.nodeid !== 0) writeEntry(b, p, entry, this.dflt);
    const q = p + SIZE.ENTRY_OUT;
    writeU64(b, q, d.ino);
    writeU64(b, q + 8, d.off);
    w32(b, q + 16, nameLen);
    w32(b, q + 20, d.type);
    b.write(d.name, q + 24, nameLen, 'utf8');
    this.pos += rec;
    this.count++;
    return true;
  }
  /** the packed records */
  data(): Buffer { return this.buf.subarray(SIZE.OUT_HEADER, this.pos); }
  /** the whole reply to request `unique`, as dataReply(unique, data()) without the copy */
  reply(unique: number): Buffer {
    const b = this.buf.subarray(0, this.pos);
    writeOutHeader(b, unique);
    return b;
  }
}

/** FUSE_NOTIFY_INVAL_INODE: drop cached data of [off, off+len) (len 0: to the end; off -1: attrs only) */
export function notifyInvalInode(nodeid: number, off: number, len: number): Buffer {
  const b = Buffer.alloc(SIZE.OUT_HEADER + SIZE.NOTIFY_INVAL_INODE);
  writeOutHeader(b, 0, Notify.INVAL_INODE);
  writeU64(b, 16, nodeid);
  writeI64(b, 24, off);
  writeI64(b, 32, len);
  return b;
}

/** FUSE_NOTIFY_INVAL_ENTRY: drop the dentry parent/name (flags: EXPIRE_ONLY) */
export function notifyInvalEntry(parent: number, name: string, flags = 0): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(SIZE.OUT_HEADER + SIZE.NOTIFY_INVAL_ENTRY + n.length + 1);
  writeOutHeader(b, 0, Notify.INVAL_ENTRY);
  writeU64(b, 16, parent);
  b.writeUInt32LE(n.length, 24);
  b.writeUInt32LE(flags >>> 0, 28);
  n.copy(b, 32);
  return b;
}
