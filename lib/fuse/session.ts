/**
 * FuseSession: owns a /dev/fuse fd, reads requests through the native reader, decodes them, dispatches
 * to FuseOperations and writes the replies. Handler failures become -errno here (once); a handler can
 * never crash the session.
 */
import * as sys from '../sys';
import { Op, INIT, SIZE, FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, opName, initFlagNames } from './protocol';
import { decodeArgs, DecodeError, DecodeOpts, InHeader, InitIn, u64 } from './decode';
import * as enc from './encode';
import type { FuseOperations, FuseContext, MaybePromise, AttrOut } from './operations';
import { LatencyStats } from './latency';
import type * as D from './decode';

const EIO = 5, ENODATA = 61, ENOSYS = 38, ERANGE = 34, EPROTO = 71, ENOENT = 2, EINVAL = 22;
const PAGE = 4096;

export interface FuseSessionOptions {
  /** largest WRITE payload (default 1 MiB; capped at max_pages (256) * 4 KiB) */
  maxWrite?: number;
  /** negotiate FUSE_PASSTHROUGH when the kernel offers it (needs CAP_SYS_ADMIN for backingOpen) */
  passthrough?: boolean;
  /**
   * FUSE_WRITEBACK_CACHE (default off). 'unless-passthrough': only when passthrough is not
   * negotiated (the kernel takes one or the other; passthrough writes need no cache).
   */
  writeback?: boolean | 'unless-passthrough';
  /**
   * FUSE_POSIX_ACL with FUSE_DONT_MASK: the kernel enforces ACLs from its cache (asking GETXATTR
   * system.posix_acl_* once per inode) and sends create modes unmasked, with the umask beside them.
   */
  posixAcl?: boolean;
  /**
   * The filesystem answers OPEN with ENOSYS (FUSE's no_open: the kernel then opens files itself).
   * ATOMIC_O_TRUNC is then not negotiated: with it the kernel leaves the truncation of an O_TRUNC
   * open to the OPEN it no longer sends, and the file would keep its data. 'unless-passthrough':
   * only when passthrough is not negotiated (it is set up in the answer to each OPEN).
   */
  noOpen?: boolean | 'unless-passthrough';
  /** default entry/attr cache timeouts in seconds (default 1) */
  entryTimeout?: number;
  attrTimeout?: number;
  maxBackground?: number;
  congestionThreshold?: number;
  /** how requests reach JS (see lib/sys/fuse.ts); default 'copy' */
  readerMode?: sys.FuseReaderMode;
  /** print every request and reply */
  debug?: (line: string) => void;
  /** unexpected errors (non-errno throws, write failures); default console.error */
  log?: (msg: string) => void;
  /** Where replies go instead of the device (a session fed with `deliver`); returns bytes or -errno. */
  writeReply?: (reply: Buffer | Buffer[]) => number;
}

/** The WRITE payload limit a session with these options negotiates (also the mount's max_read). */
export function sessionMaxWrite(opts: FuseSessionOptions): number {
  return Math.min(opts.maxWrite ?? 1024 * 1024, 256 * PAGE);
}

export interface Negotiated {
  major: number; minor: number; flags: bigint; kernelFlags: bigint; maxWrite: number; maxPages: number;
  passthrough: boolean; setxattrExt: boolean;
  /** OPEN is answered ENOSYS: the kernel opens files itself (SessionOptions.noOpen) */
  noOpen: boolean;
}

type Reply = Buffer | Buffer[] | null;

function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function then<T, R>(v: MaybePromise<T>, f: (t: T) => R): MaybePromise<R> {
  return isThenable<T>(v) ? Promise.resolve(v).then(f) : f(v as T);
}

/**
 * `build(u, value, x)` once `v` is there. The builders are module functions, so a request answered
 * synchronously (most are) allocates no closure on its way to the reply.
 */
function reply<T, X>(v: MaybePromise<T>, build: (u: number, t: T, x: X) => Reply, u: number, x: X): MaybePromise<Reply> {
  return isThenable<T>(v) ? Promise.resolve(v).then((t) => build(u, t, x)) : build(u, v as T, x);
}

type Timeouts = { entry: number; attr: number };
const entryOut = (u: number, e: enc.FuseEntry, t: Timeouts): Reply => enc.entryReply(u, e, t);
const attrOut = (u: number, r: AttrOut, t: Timeouts): Reply => enc.attrReply(u, r.attr, r.attrTimeout ?? t.attr);
const emptyOut = (u: number): Reply => enc.emptyReply(u);
const nosys = (u: number): Reply => enc.errorReply(u, ENOSYS);
const writeOut = (u: number, n: number): Reply => enc.writeReply(u, n);
const sizedOut = (u: number, v: Uint8Array | null, size: number): Reply => (v === null ? enc.errorReply(u, ENODATA) : sizedReply(u, size, v));

/**
 * One request's fuse_in_header and its caller, as handlers see it: one object per request for both
 * (a class: its getter is shared, not made per request).
 */
class RequestContext implements FuseContext, InHeader {
  readonly len: number; readonly opcode: number; readonly unique: number; readonly nodeid: number;
  readonly uid: number; readonly gid: number; readonly pid: number; readonly totalExtlen: number;

  constructor(b: Buffer, private readonly interruptedSet: Set<number>) {
    if (b.length < SIZE.IN_HEADER) throw new DecodeError(`short request: ${b.length} bytes`);
    this.len = b.readUInt32LE(0); this.opcode = b.readUInt32LE(4); this.unique = u64(b, 8); this.nodeid = u64(b, 16);
    this.uid = b.readUInt32LE(24); this.gid = b.readUInt32LE(28); this.pid = b.readUInt32LE(32);
    this.totalExtlen = b.readUInt16LE(36);
  }

  get interrupted(): boolean {
    return this.interruptedSet.size > 0 && this.interruptedSet.has(this.unique);
  }
}

/** errno carried by an error (errno number, sign ignored, or code string); undefined if none */
export function errnoOf(e: unknown): number | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  const n = (e as { errno?: unknown }).errno;
  if (typeof n === 'number' && Number.isInteger(n) && n !== 0) return Math.abs(n);
  const c = (e as { code?: unknown }).code;
  if (typeof c === 'string') return sys.codeErrno(c === 'ENOTSUP' ? 'EOPNOTSUPP' : c);
  return undefined;
}

export class FuseSession {
  readonly fd: number;
  readonly ops: FuseOperations;
  readonly opts: FuseSessionOptions;
  /** requests received per opcode (index: opcode; the last slot counts any larger one) */
  private readonly counts = new Float64Array(64);
  /** requests received in all (moves while the mount is in use) */
  received = 0;
  /** time per request by opcode, read to reply written */
  readonly latency = new LatencyStats();
  negotiated?: Negotiated;
  /** resolves once INIT has been answered; rejects if the device ends first */
  readonly initialized: Promise<Negotiated>;
  /** resolves when the reader ended (unmount: ENODEV) or the session was closed */
  readonly ended: Promise<void>;

  private reader?: sys.FuseReader;
  private decodeOpts: DecodeOpts = {};
  private inflight = new Set<number>();
  private interrupted = new Set<number>();
  private closed = false;
  private timeouts: { entry: number; attr: number };
  private resolveInit!: (n: Negotiated) => void;
  private rejectInit!: (e: Error) => void;
  private resolveEnd!: () => void;
  private readonly log: (msg: string) => void;

  constructor(fd: number, ops: FuseOperations, opts: FuseSessionOptions = {}) {
    this.fd = fd;
    this.ops = ops;
    this.opts = opts;
    this.log = opts.log ?? ((m) => console.error(`layerfs fuse: ${m}`));
    this.timeouts = { entry: opts.entryTimeout ?? 1, attr: opts.attrTimeout ?? 1 };
    this.initialized = new Promise((res, rej) => { this.resolveInit = res; this.rejectInit = rej; });
    this.initialized.catch(() => { /* observed by whoever awaits it */ });
    this.ended = new Promise((res) => { this.resolveEnd = res; });
    this.decodeOpts.copyPayload = (opts.readerMode ?? 'copy') === 'view';
  }

  /** requests received per opcode name */
  get stats(): Map<string, number> {
    const out = new Map<string, number>();
    this.counts.forEach((n, op) => {
      if (n > 0) out.set(op === this.counts.length - 1 ? 'OTHER' : opName(op), n);
    });
    return out;
  }

  get maxWrite(): number {
    return sessionMaxWrite(this.opts);
  }

  /** start reading requests (call right after mount(2): before it, reads fail with EPERM) */
  start(): void {
    if (this.reader || this.closed) return;
    const bufSize = this.maxWrite + PAGE; // libfuse: max_write + FUSE_BUFFER_HEADER_SIZE
    this.reader = sys.fuseStartReader(this.fd, bufSize, (buf, len) => this.onMessage(buf, len),
      this.opts.readerMode ?? 'copy');
  }

  /** stop reading and close the fd (aborts the connection if still mounted) */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reader) sys.fuseStopReader(this.reader);
    try { sys.close(this.fd); } catch { /* already gone */ }
    this.finish(new Error('FUSE session closed'));
  }

  private finish(err: Error): void {
    this.rejectInit(err);
    this.resolveEnd();
  }

  // ---- kernel-facing helpers ----

  /** register an open fd for passthrough; returns the backing id for OpenOut.backingId */
  backingOpen(fileFd: number): number {
    return sys.fuseBackingOpen(this.fd, fileFd);
  }

  backingClose(backingId: number): void {
    sys.fuseBackingClose(this.fd, backingId);
  }

  /**
   * Invalidate cached data [off, off+len) (len 0: to the end; off -1: attributes only). Returns 0 or
   * -errno (-ENOENT: inode not cached). Never call it for a node whose request is being handled and
   * awaited by the kernel on the same lock (it writes synchronously).
   */
  notifyInvalInode(nodeid: number, off = 0, len = 0): number {
    return this.notify(enc.notifyInvalInode(nodeid, off, len));
  }

  /** Invalidate the dentry parent/name. Returns 0 or -errno (-ENOENT: not cached). */
  notifyInvalEntry(parent: number, name: string, expireOnly = false): number {
    return this.notify(enc.notifyInvalEntry(parent, name, expireOnly ? 1 : 0));
  }

  private notify(b: Buffer): number {
    if (this.closed) return -EINVAL;
    const r = sys.fuseWrite(this.fd, b);
    if (this.opts.debug) this.opts.debug(`notify ${b.readInt32LE(4)} -> ${r}`);
    return r < 0 ? r : 0;
  }

  // ---- request path ----

  /** Handles one request as if read from the device (its reply goes to `writeReply`). */
  deliver(request: Buffer): void {
    this.onMessage(request, request.length);
  }

  private onMessage(buf: Buffer | null, len: number): void {
    if (buf === null) {
      if (len < 0) this.log(`read /dev/fuse failed: ${sys.errnoCode(-len)}`);
      this.closed = true;
      try { sys.close(this.fd); } catch { /* ignore */ }
      this.finish(new Error(len < 0 ? `FUSE device error ${sys.errnoCode(-len)}` : 'FUSE filesystem unmounted'));
      return;
    }
    this.received++;
    const t0 = LatencyStats.now();
    let h: RequestContext | undefined;
    try {
      h = new RequestContext(buf, this.interrupted);
      this.dispatch(h, decodeArgs(buf, len, this.decodeOpts, h), t0);
    } catch (e) {
      this.log(`bad request${h ? ` ${opName(h.opcode)} #${h.unique}` : ''}: ${(e as Error).message}`);
      if (h && h.opcode !== Op.FORGET && h.opcode !== Op.BATCH_FORGET && h.opcode !== Op.INTERRUPT) {
        this.send(h.unique, enc.errorReply(h.unique, EINVAL));
      }
    }
  }

  /** Writes the reply (if any); with `t0` (when the request was read) its time is recorded. */
  private send(unique: number, out: Reply, h?: InHeader, t0?: number): void {
    if (this.inflight.size > 0) this.inflight.delete(unique);
    if (this.interrupted.size > 0) this.interrupted.delete(unique);
    if (out === null || this.closed) {
      if (h !== undefined && t0 !== undefined) this.latency.record(h.opcode, t0);
      return;
    }
    const r = this.opts.writeReply !== undefined ? this.opts.writeReply(out)
      : Array.isArray(out) ? sys.fuseWritev(this.fd, out) : sys.fuseWrite(this.fd, out);
    if (h !== undefined && t0 !== undefined) this.latency.record(h.opcode, t0);
    if (this.opts.debug) {
      const first = Array.isArray(out) ? out[0] : out;
      const took = t0 !== undefined ? ` ${((LatencyStats.now() - t0) * 1000).toFixed(1)}us` : '';
      this.opts.debug(`<- #${unique} error=${first.readInt32LE(4)} len=${first.readUInt32LE(0)}${took}${r < 0 ? ` write=${sys.errnoCode(-r)}` : ''}`);
    }
    // ENOENT: the request was interrupted/aborted meanwhile: not an error
    if (r < 0 && r !== -ENOENT && !this.closed) this.log(`reply #${unique} failed: ${sys.errnoCode(-r)}`);
  }

  private fail(h: RequestContext, e: unknown, t0?: number): void {
    let errno = errnoOf(e);
    if (errno === undefined) {
      errno = EIO;
      this.log(`${opName(h.opcode)} #${h.unique} (node ${h.nodeid}) threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
    if (h.opcode === Op.FORGET || h.opcode === Op.BATCH_FORGET) return;
    this.send(h.unique, enc.errorReply(h.unique, errno), h, t0);
  }

  private dispatch(h: RequestContext, args: unknown, t0?: number): void {
    this.counts[h.opcode < this.counts.length ? h.opcode : this.counts.length - 1]++;
    if (this.opts.debug) this.opts.debug(`-> #${h.unique} ${opName(h.opcode)} node=${h.nodeid} uid=${h.uid} pid=${h.pid} ${debugArgs(args)}`);
    if (h.opcode === Op.INTERRUPT) {
      const u = (args as D.InterruptIn).unique;
      if (this.inflight.has(u)) this.interrupted.add(u);
      return;
    }
    let out: MaybePromise<Reply>;
    try {
      out = this.handle(h, args);
    } catch (e) {
      this.fail(h, e, t0);
      return;
    }
    if (isThenable<Reply>(out)) {
      // Only a request still unanswered once its handler returned can meet its INTERRUPT (which is
      // read after it): the synchronous majority skips the set.
      if (h.opcode !== Op.FORGET && h.opcode !== Op.BATCH_FORGET) this.inflight.add(h.unique);
      Promise.resolve(out).then((r) => this.send(h.unique, r, h, t0), (e) => this.fail(h, e, t0));
    } else {
      this.send(h.unique, out, h, t0);
    }
  }

  /** the reply for one request (null: no reply) or a Promise of it */
  private handle(h: RequestContext, a: unknown): MaybePromise<Reply> {
    const ops = this.ops, u = h.unique, t = this.timeouts;
    const ctx: FuseContext = h;
    switch (h.opcode) {
      case Op.INIT: return this.init(h, a as InitIn);
      case Op.DESTROY: return reply(ops.destroy ? ops.destroy() : undefined, emptyOut, u, null);
      case Op.FORGET:
        if (ops.forget) return then(ops.forget(ctx, a as D.ForgetIn), () => null);
        return null;
      case Op.BATCH_FORGET: {
        if (!ops.forget) return null;
        const list = (a as D.BatchForgetIn).forgets;
        const pending: PromiseLike<void>[] = [];
        for (const f of list) {
          try {
            const r = ops.forget(ctx, f);
            if (isThenable<void>(r)) pending.push(r);
          } catch (e) { this.fail(h, e); }
        }
        return pending.length ? Promise.all(pending).then(() => null) : null;
      }
      case Op.LOOKUP: return ops.lookup ? reply(ops.lookup(ctx, a as D.NameIn), entryOut, u, t) : nosys(u);
      case Op.GETATTR: return ops.getattr ? reply(ops.getattr(ctx, a as D.GetattrIn), attrOut, u, t) : nosys(u);
      case Op.SETATTR: return ops.setattr ? reply(ops.setattr(ctx, a as D.SetattrIn), attrOut, u, t) : nosys(u);
      case Op.READLINK:
        return ops.readlink ? then(ops.readlink(ctx, a as D.NodeIn),
          (s) => enc.dataReply(u, typeof s === 'string' ? Buffer.from(s) : s)) : nosys(u);
      case Op.SYMLINK: return ops.symlink ? reply(ops.symlink(ctx, a as D.SymlinkIn), entryOut, u, t) : nosys(u);
      case Op.MKNOD: return ops.mknod ? reply(ops.mknod(ctx, a as D.MknodIn), entryOut, u, t) : nosys(u);
      case Op.MKDIR: return ops.mkdir ? reply(ops.mkdir(ctx, a as D.MkdirIn), entryOut, u, t) : nosys(u);
      case Op.UNLINK: return ops.unlink ? reply(ops.unlink(ctx, a as D.NameIn), emptyOut, u, null) : nosys(u);
      case Op.RMDIR: return ops.rmdir ? reply(ops.rmdir(ctx, a as D.NameIn), emptyOut, u, null) : nosys(u);
      case Op.RENAME: case Op.RENAME2:
        return ops.rename ? reply(ops.rename(ctx, a as D.RenameIn), emptyOut, u, null) : nosys(u);
      case Op.LINK: return ops.link ? reply(ops.link(ctx, a as D.LinkIn), entryOut, u, t) : nosys(u);
      case Op.OPEN:
        // like libfuse: without an open method every open succeeds with fh 0
        return ops.open ? reply(ops.open(ctx, a as D.OpenIn), this.openOut, u, null) : enc.openReply(u, { fh: 0 });
      case Op.OPENDIR:
        return ops.opendir ? reply(ops.opendir(ctx, a as D.OpenIn), this.openOut, u, null) : enc.openReply(u, { fh: 0 });
      case Op.CREATE:
        return ops.create ? then(ops.create(ctx, a as D.CreateIn), (r) => {
          this.checkBacking(r);
          return enc.createReply(u, r, r, t);
        }) : nosys(u);
      case Op.READ:
        return ops.read ? then(ops.read(ctx, a as D.ReadIn), (data) => {
          const d = data.length > (a as D.ReadIn).size ? data.subarray(0, (a as D.ReadIn).size) : data;
          return [enc.dataHeader(u, d.length), d as Buffer];
        }) : nosys(u);
      case Op.WRITE: return ops.write ? reply(ops.write(ctx, a as D.WriteIn), writeOut, u, null) : nosys(u);
      case Op.FLUSH: return ops.flush ? reply(ops.flush(ctx, a as D.FlushIn), emptyOut, u, null) : nosys(u);
      case Op.RELEASE: return ops.release ? reply(ops.release(ctx, a as D.ReleaseIn), emptyOut, u, null) : emptyOut(u);
      case Op.RELEASEDIR: return ops.releasedir ? reply(ops.releasedir(ctx, a as D.ReleaseIn), emptyOut, u, null) : emptyOut(u);
      case Op.FSYNC: return ops.fsync ? reply(ops.fsync(ctx, a as D.FsyncIn), emptyOut, u, null) : nosys(u);
      case Op.FSYNCDIR: return ops.fsyncdir ? reply(ops.fsyncdir(ctx, a as D.FsyncIn), emptyOut, u, null) : nosys(u);
      case Op.READDIR:
        return ops.readdir ? then(ops.readdir(ctx, a as D.ReadIn),
          (list) => enc.dataReply(u, enc.packDirents(list, (a as D.ReadIn).size).data)) : nosys(u);
      case Op.READDIRPLUS: return ops.readdir ? this.readdirplus(ctx, a as D.ReadIn) : nosys(u);
      case Op.STATFS:
        return ops.statfs ? then(ops.statfs(ctx, a as D.NodeIn), (s) => enc.statfsReply(u, s))
          : enc.statfsReply(u, { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 512, namelen: 255, frsize: 0 });
      case Op.ACCESS: return ops.access ? reply(ops.access(ctx, a as D.AccessIn), emptyOut, u, null) : nosys(u);
      case Op.GETXATTR:
        return ops.getxattr ? reply(ops.getxattr(ctx, a as D.GetxattrIn), sizedOut, u, (a as D.GetxattrIn).size) : nosys(u);
      case Op.LISTXATTR:
        return ops.listxattr ? then(ops.listxattr(ctx, a as D.ListxattrIn),
          (names) => sizedReply(u, (a as D.ListxattrIn).size, packNames(names))) : nosys(u);
      case Op.SETXATTR: return ops.setxattr ? reply(ops.setxattr(ctx, a as D.SetxattrIn), emptyOut, u, null) : nosys(u);
      case Op.REMOVEXATTR: return ops.removexattr ? reply(ops.removexattr(ctx, a as D.NameIn), emptyOut, u, null) : nosys(u);
      case Op.FALLOCATE: return ops.fallocate ? reply(ops.fallocate(ctx, a as D.FallocateIn), emptyOut, u, null) : nosys(u);
      case Op.LSEEK: return ops.lseek ? then(ops.lseek(ctx, a as D.LseekIn), (o) => enc.lseekReply(u, o)) : nosys(u);
      case Op.COPY_FILE_RANGE:
        return ops.copyFileRange ? reply(ops.copyFileRange(ctx, a as D.CopyFileRangeIn), writeOut, u, null) : nosys(u);
      default: return nosys(u);
    }
  }

  private checkBacking(o: enc.OpenOut): void {
    if (o.backingId && !this.negotiated?.passthrough) {
      throw Object.assign(new Error('backingId without negotiated FUSE_PASSTHROUGH'), { errno: EIO });
    }
  }

  /** The OPEN/OPENDIR reply builder (made once: a bound arrow). */
  private readonly openOut = (u: number, o: enc.OpenOut): Reply => {
    this.checkBacking(o);
    return enc.openReply(u, o);
  };

  private async readdirplus(ctx: FuseContext, a: D.ReadIn): Promise<Buffer> {
    const list = await this.ops.readdir!(ctx, a);
    const packer = new enc.DirentPlusPacker(a.size, this.timeouts);
    for (const d of list) {
      if (!packer.fits(d.name)) break;
      let e: enc.FuseEntry | undefined;
      if (d.name !== '.' && d.name !== '..' && this.ops.lookup) {
        try {
          const r = this.ops.lookup(ctx, { nodeid: a.nodeid, name: d.name });
          // a synchronous lookup (the usual case) costs no microtask turn per entry
          e = isThenable<enc.FuseEntry>(r) ? await r : r;
        } catch {
          e = undefined; // raced away: name and type only
        }
      }
      packer.add(d, e);
    }
    return packer.reply(ctx.unique);
  }

  private init(h: InHeader, k: InitIn): MaybePromise<Reply> {
    const u = h.unique;
    if (k.major > FUSE_KERNEL_VERSION) {
      // the kernel will send a new INIT with our major
      return enc.initReply(u, { major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION, maxReadahead: 0,
        flags: 0n, maxBackground: 0, congestionThreshold: 0, maxWrite: 0, timeGran: 0, maxPages: 0 });
    }
    if (k.major < FUSE_KERNEL_VERSION || k.minor < 23) {
      this.log(`unsupported kernel FUSE protocol ${k.major}.${k.minor}`);
      return enc.errorReply(u, EPROTO);
    }
    const minor = Math.min(k.minor, FUSE_KERNEL_MINOR_VERSION);
    // READDIRPLUS always (not _AUTO): every listing carries the entries' attributes, so a walk that
    // stats what it lists needs no LOOKUP per name (each request is a round trip to this thread).
    let want = INIT.ASYNC_READ | INIT.PARALLEL_DIROPS | INIT.BIG_WRITES | INIT.MAX_PAGES | INIT.ATOMIC_O_TRUNC
      | INIT.DO_READDIRPLUS | INIT.HANDLE_KILLPRIV_V2 | INIT.CACHE_SYMLINKS
      | INIT.SETXATTR_EXT | INIT.INIT_EXT;
    if (this.opts.posixAcl) want |= INIT.POSIX_ACL | INIT.DONT_MASK;
    if (this.opts.passthrough && this.opts.noOpen !== true) want |= INIT.PASSTHROUGH;
    const passthroughOffered = (want & k.flags & INIT.PASSTHROUGH) !== 0n;
    if (this.opts.writeback === true || (this.opts.writeback === 'unless-passthrough' && !passthroughOffered)) {
      want |= INIT.WRITEBACK_CACHE;
      want &= ~INIT.PASSTHROUGH;
    }
    const passthrough = (want & k.flags & INIT.PASSTHROUGH) !== 0n;
    const noOpen = this.opts.noOpen === true || (this.opts.noOpen === 'unless-passthrough' && !passthrough);
    // no OPEN to carry O_TRUNC: the kernel truncates with a SETATTR of size 0 instead
    if (noOpen) want &= ~INIT.ATOMIC_O_TRUNC;
    const flags = want & k.flags;
    const maxPages = 256;
    const n: Negotiated = {
      major: FUSE_KERNEL_VERSION, minor, flags, kernelFlags: k.flags, maxWrite: this.maxWrite, maxPages,
      passthrough, setxattrExt: (flags & INIT.SETXATTR_EXT) !== 0n, noOpen,
    };
    this.negotiated = n;
    this.decodeOpts.setxattrExt = n.setxattrExt;
    if (this.opts.debug) this.opts.debug(`INIT kernel ${k.major}.${k.minor} offers ${initFlagNames(k.flags).join(',')}; using ${minor}: ${initFlagNames(flags).join(',')}`);
    const reply = enc.initReply(u, {
      major: FUSE_KERNEL_VERSION, minor, maxReadahead: k.maxReadahead, flags,
      maxBackground: this.opts.maxBackground ?? 64, congestionThreshold: this.opts.congestionThreshold ?? 48,
      maxWrite: n.maxWrite, timeGran: 1, maxPages, maxStackDepth: passthrough ? 1 : 0,
    });
    const done = (): Reply => {
      this.send(u, reply);
      this.resolveInit(n);
      return null;
    };
    return this.ops.init ? then(this.ops.init(k), done) : done();
  }
}

/** value for GETXATTR/LISTXATTR: size query (0), ERANGE when too small, else the bytes */
function sizedReply(u: number, size: number, v: Uint8Array): Buffer {
  if (size === 0) return enc.xattrSizeReply(u, v.length);
  if (v.length > size) return enc.errorReply(u, ERANGE);
  return enc.dataReply(u, v);
}

function packNames(names: readonly string[]): Buffer {
  return Buffer.concat(names.map((n) => Buffer.from(`${n}\0`, 'utf8')));
}

function debugArgs(a: unknown): string {
  try {
    return JSON.stringify(a, (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') return `<${((v as { data: unknown[] }).data).length} bytes>`;
      return v;
    });
  } catch { return ''; }
}

