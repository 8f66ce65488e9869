/**
 * The interface a filesystem implements to be served by FuseSession (inode based, like libfuse's
 * low-level API). Every method is optional (a missing one answers ENOSYS) and may return a value or a
 * Promise. Failures: throw an error carrying `errno` (number; sign ignored, so Node's negative errnos
 * work) or `code` ('ENOENT'); anything else becomes EIO and is logged.
 *
 * Lookup counting: every successful lookup, symlink, mknod, mkdir, link and create reply (and every
 * READDIRPLUS entry, which the session resolves through `lookup`) gives the kernel one reference on
 * the returned nodeid; `forget` returns them.
 */
import type {
  InitIn, NameIn, NodeIn, GetattrIn, SetattrIn, SymlinkIn, MknodIn, MkdirIn, RenameIn, LinkIn, OpenIn,
  CreateIn, ReadIn, WriteIn, FlushIn, ReleaseIn, FsyncIn, AccessIn, GetxattrIn, ListxattrIn, SetxattrIn,
  FallocateIn, LseekIn, CopyFileRangeIn, ForgetIn,
} from './decode';
import type { FuseAttr, FuseEntry, FuseStatfs, OpenOut, DirEntry } from './encode';

export type {
  InitIn, NameIn, NodeIn, GetattrIn, SetattrIn, SymlinkIn, MknodIn, MkdirIn, RenameIn, LinkIn, OpenIn,
  CreateIn, ReadIn, WriteIn, FlushIn, ReleaseIn, FsyncIn, AccessIn, GetxattrIn, ListxattrIn, SetxattrIn,
  FallocateIn, LseekIn, CopyFileRangeIn, ForgetIn, FuseAttr, FuseEntry, FuseStatfs, OpenOut, DirEntry,
};

/** the caller of a request */
export interface FuseContext {
  uid: number; gid: number; pid: number;
  /** request id */
  unique: number;
  opcode: number;
  /** true once the kernel sent FUSE_INTERRUPT for this request (best effort: check it in long handlers) */
  readonly interrupted: boolean;
}

export type MaybePromise<T> = T | Promise<T>;

export interface AttrOut { attr: FuseAttr; attrTimeout?: number }
export type CreateOut = FuseEntry & OpenOut;

export interface FuseOperations {
  /** after INIT negotiation (kernel's request; the negotiated flags are on session.negotiated) */
  init?(info: InitIn): MaybePromise<void>;
  destroy?(): MaybePromise<void>;

  /** nodeid is the parent; throw ENOENT or return { nodeid: 0, entryTimeout } for a cached miss */
  lookup?(ctx: FuseContext, a: NameIn): MaybePromise<FuseEntry>;
  /** FORGET and each item of BATCH_FORGET; no reply is sent, errors are only logged */
  forget?(ctx: FuseContext, a: ForgetIn): MaybePromise<void>;
  getattr?(ctx: FuseContext, a: GetattrIn): MaybePromise<AttrOut>;
  setattr?(ctx: FuseContext, a: SetattrIn): MaybePromise<AttrOut>;
  readlink?(ctx: FuseContext, a: NodeIn): MaybePromise<string | Buffer>;
  symlink?(ctx: FuseContext, a: SymlinkIn): MaybePromise<FuseEntry>;
  mknod?(ctx: FuseContext, a: MknodIn): MaybePromise<FuseEntry>;
  mkdir?(ctx: FuseContext, a: MkdirIn): MaybePromise<FuseEntry>;
  unlink?(ctx: FuseContext, a: NameIn): MaybePromise<void>;
  rmdir?(ctx: FuseContext, a: NameIn): MaybePromise<void>;
  /** RENAME (flags 0) and RENAME2 (RENAME_NOREPLACE/EXCHANGE/WHITEOUT) */
  rename?(ctx: FuseContext, a: RenameIn): MaybePromise<void>;
  /** nodeid is the new parent, oldNodeid the inode to link */
  link?(ctx: FuseContext, a: LinkIn): MaybePromise<FuseEntry>;
  open?(ctx: FuseContext, a: OpenIn): MaybePromise<OpenOut>;
  create?(ctx: FuseContext, a: CreateIn): MaybePromise<CreateOut>;
  /** return at most a.size bytes (fewer only at EOF, unless the file was opened FOPEN_DIRECT_IO) */
  read?(ctx: FuseContext, a: ReadIn): MaybePromise<Uint8Array>;
  /** return the number of bytes written */
  write?(ctx: FuseContext, a: WriteIn): MaybePromise<number>;
  flush?(ctx: FuseContext, a: FlushIn): MaybePromise<void>;
  release?(ctx: FuseContext, a: ReleaseIn): MaybePromise<void>;
  fsync?(ctx: FuseContext, a: FsyncIn): MaybePromise<void>;
  opendir?(ctx: FuseContext, a: OpenIn): MaybePromise<OpenOut>;
  /**
   * Entries from cookie a.offset on (0 = start; include '.' and '..' if wanted), each with `off` = the
   * cookie of the entry after it. Return as many as convenient: the session packs what fits in a.size.
   * READDIRPLUS uses this too and resolves each packed entry (except '.' and '..') through lookup.
   */
  readdir?(ctx: FuseContext, a: ReadIn): MaybePromise<readonly DirEntry[]>;
  releasedir?(ctx: FuseContext, a: ReleaseIn): MaybePromise<void>;
  fsyncdir?(ctx: FuseContext, a: FsyncIn): MaybePromise<void>;
  statfs?(ctx: FuseContext, a: NodeIn): MaybePromise<FuseStatfs>;
  access?(ctx: FuseContext, a: AccessIn): MaybePromise<void>;
  /** the whole value; the session answers size queries (a.size 0) and ERANGE; null if absent (ENODATA, without the cost of a throw) */
  getxattr?(ctx: FuseContext, a: GetxattrIn): MaybePromise<Uint8Array | null>;
  setxattr?(ctx: FuseContext, a: SetxattrIn): MaybePromise<void>;
  /** the names; the session packs them NUL-terminated and answers size queries and ERANGE */
  listxattr?(ctx: FuseContext, a: ListxattrIn): MaybePromise<readonly string[]>;
  removexattr?(ctx: FuseContext, a: NameIn): MaybePromise<void>;
  fallocate?(ctx: FuseContext, a: FallocateIn): MaybePromise<void>;
  /** the resulting offset */
  lseek?(ctx: FuseContext, a: LseekIn): MaybePromise<number>;
  /** bytes copied */
  copyFileRange?(ctx: FuseContext, a: CopyFileRangeIn): MaybePromise<number>;
}
