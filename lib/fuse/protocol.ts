/**
 * FUSE kernel protocol constants (include/uapi/linux/fuse.h, protocol 7.45). Little-endian structs;
 * sizes in bytes.
 */

export const FUSE_KERNEL_VERSION = 7;
/** the newest minor we speak */
export const FUSE_KERNEL_MINOR_VERSION = 45;
export const FUSE_ROOT_ID = 1;
export const FUSE_MIN_READ_BUFFER = 8192;

export enum Op {
  LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, READLINK = 5, SYMLINK = 6, MKNOD = 8, MKDIR = 9,
  UNLINK = 10, RMDIR = 11, RENAME = 12, LINK = 13, OPEN = 14, READ = 15, WRITE = 16, STATFS = 17,
  RELEASE = 18, FSYNC = 20, SETXATTR = 21, GETXATTR = 22, LISTXATTR = 23, REMOVEXATTR = 24, FLUSH = 25,
  INIT = 26, OPENDIR = 27, READDIR = 28, RELEASEDIR = 29, FSYNCDIR = 30, GETLK = 31, SETLK = 32,
  SETLKW = 33, ACCESS = 34, CREATE = 35, INTERRUPT = 36, BMAP = 37, DESTROY = 38, IOCTL = 39, POLL = 40,
  NOTIFY_REPLY = 41, BATCH_FORGET = 42, FALLOCATE = 43, READDIRPLUS = 44, RENAME2 = 45, LSEEK = 46,
  COPY_FILE_RANGE = 47, SETUPMAPPING = 48, REMOVEMAPPING = 49, SYNCFS = 50, TMPFILE = 51, STATX = 52,
}

export function opName(op: number): string {
  return Op[op] ?? `OP_${op}`;
}

/** notification codes (sent with unique 0, the code in the error field) */
export enum Notify {
  POLL = 1, INVAL_INODE = 2, INVAL_ENTRY = 3, STORE = 4, RETRIEVE = 5, DELETE = 6, RESEND = 7,
  INC_EPOCH = 8, PRUNE = 9,
}

/**
 * INIT flags as 64-bit values (bits 32..63 travel in flags2, with FUSE_INIT_EXT set in flags).
 * Use splitFlags/joinFlags to convert.
 */
export const INIT = {
  ASYNC_READ: 1n << 0n, POSIX_LOCKS: 1n << 1n, FILE_OPS: 1n << 2n, ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n, BIG_WRITES: 1n << 5n, DONT_MASK: 1n << 6n, SPLICE_WRITE: 1n << 7n,
  SPLICE_MOVE: 1n << 8n, SPLICE_READ: 1n << 9n, FLOCK_LOCKS: 1n << 10n, HAS_IOCTL_DIR: 1n << 11n,
  AUTO_INVAL_DATA: 1n << 12n, DO_READDIRPLUS: 1n << 13n, READDIRPLUS_AUTO: 1n << 14n, ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n, NO_OPEN_SUPPORT: 1n << 17n, PARALLEL_DIROPS: 1n << 18n,
  HANDLE_KILLPRIV: 1n << 19n, POSIX_ACL: 1n << 20n, ABORT_ERROR: 1n << 21n, MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n, NO_OPENDIR_SUPPORT: 1n << 24n, EXPLICIT_INVAL_DATA: 1n << 25n,
  MAP_ALIGNMENT: 1n << 26n, SUBMOUNTS: 1n << 27n, HANDLE_KILLPRIV_V2: 1n << 28n, SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n, INIT_RESERVED: 1n << 31n,
  SECURITY_CTX: 1n << 32n, HAS_INODE_DAX: 1n << 33n, CREATE_SUPP_GROUP: 1n << 34n,
  HAS_EXPIRE_ONLY: 1n << 35n, DIRECT_IO_ALLOW_MMAP: 1n << 36n, PASSTHROUGH: 1n << 37n,
  NO_EXPORT_SUPPORT: 1n << 38n, HAS_RESEND: 1n << 39n, ALLOW_IDMAP: 1n << 40n, OVER_IO_URING: 1n << 41n,
  REQUEST_TIMEOUT: 1n << 42n,
} as const;

export function splitFlags(f: bigint): { flags: number; flags2: number } {
  return { flags: Number(f & 0xffffffffn), flags2: Number((f >> 32n) & 0xffffffffn) };
}

export function joinFlags(flags: number, flags2: number): bigint {
  return (BigInt(flags2 >>> 0) << 32n) | BigInt(flags >>> 0);
}

/** names of the set INIT bits (for logs) */
export function initFlagNames(f: bigint): string[] {
  return Object.entries(INIT).filter(([, v]) => (f & v) !== 0n).map(([k]) => k);
}

/** fuse_open_out.open_flags */
export const FOPEN = {
  DIRECT_IO: 1 << 0, KEEP_CACHE: 1 << 1, NONSEEKABLE: 1 << 2, CACHE_DIR: 1 << 3, STREAM: 1 << 4,
  NOFLUSH: 1 << 5, PARALLEL_DIRECT_WRITES: 1 << 6, PASSTHROUGH: 1 << 7,
} as const;

/** fuse_setattr_in.valid */
export const FATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6,
  ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10, KILL_SUIDGID: 1 << 11,
} as const;

export const GETATTR_FH = 1 << 0;
export const RELEASE_FLUSH = 1 << 0;
export const RELEASE_FLOCK_UNLOCK = 1 << 1;
export const WRITE_CACHE = 1 << 0;
export const WRITE_LOCKOWNER = 1 << 1;
export const WRITE_KILL_SUIDGID = 1 << 2;
export const READ_LOCKOWNER = 1 << 1;
export const FSYNC_FDATASYNC = 1 << 0;
export const OPEN_KILL_SUIDGID = 1 << 0;
export const SETXATTR_ACL_KILL_SGID = 1 << 0;
export const EXPIRE_ONLY = 1 << 0;
export const ATTR_SUBMOUNT = 1 << 0;
export const ATTR_DAX = 1 << 1;
export const UNIQUE_RESEND = 1n << 63n;

/** struct sizes */
export const SIZE = {
  IN_HEADER: 40, OUT_HEADER: 16, ATTR: 88, ENTRY_OUT: 128, ATTR_OUT: 104, OPEN_OUT: 16, WRITE_OUT: 8,
  STATFS_OUT: 80, INIT_IN: 64, INIT_OUT: 64, COMPAT_22_INIT_OUT: 24, GETXATTR_OUT: 8, LSEEK_OUT: 8,
  DIRENT: 24, DIRENTPLUS: 152, NOTIFY_INVAL_INODE: 24, NOTIFY_INVAL_ENTRY: 16,
  SETATTR_IN: 88, READ_IN: 40, WRITE_IN: 40, RELEASE_IN: 24, FLUSH_IN: 24, FSYNC_IN: 16, CREATE_IN: 16,
  OPEN_IN: 8, MKNOD_IN: 16, MKDIR_IN: 8, RENAME_IN: 8, RENAME2_IN: 16, LINK_IN: 8, GETATTR_IN: 16,
  ACCESS_IN: 8, GETXATTR_IN: 8, SETXATTR_IN: 16, COMPAT_SETXATTR_IN: 8, FALLOCATE_IN: 32, LSEEK_IN: 24,
  COPY_FILE_RANGE_IN: 56, INTERRUPT_IN: 8, FORGET_IN: 8, BATCH_FORGET_IN: 8, FORGET_ONE: 16,
} as const;

/** FUSE_REC_ALIGN: 8-byte alignment of dirent records */
export function align8(n: number): number {
  return (n + 7) & ~7;
}
