import { LRUCache } from 'lru-cache';
import type { Attr, Caller, DirHandle, FileHandle, Overlay, OverlayNode } from '../engine';
import { ACL_ACCESS } from '../engine';
import * as fuse from '../fuse';
import type { FuseContext, FuseOperations } from '../fuse';
import * as sys from '../sys';
import { NO_ATTR, toFuseAttr } from './attr';
import { IdMap } from './idmap';
import { StatOverride } from './override-stat';
import { NodeTable, ROOT_ID } from './node-table';

/** How long the kernel may cache what we answer: lower layers never change under the mount. */
export interface CacheTimeouts {
  /** for objects in lower layers (seconds) */
  lower: number;
  /** for objects in the upper layer (seconds): they change only through this mount, and the kernel
   *  drops what it cached itself when it changes them (writes, unlink, rename) */
  upper: number;
}

/** Hands open files to the kernel (FUSE passthrough): their reads and writes then skip us. */
export interface Passthrough {
  open(fd: number): number;
  close(id: number): void;
}

interface OpenFile {
  handle: FileHandle;
  backingId: number;
  nodeid: number;
}

/** A passthrough backing file of a node: the kernel wants one, shared, for every open of an inode. */
interface Backing {
  id: number;
  dev: number;
  ino: number;
  refs: number;
}

const joinPath = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
const S_ISUID = 0o4000, S_ISGID = 0o2000, S_IXGRP = 0o010;

/**
 * The FUSE glue: translates each FUSE operation into engine calls, and nothing more. Node ids map
 * to merged paths (NodeTable), file handles to engine handles. Errors pass through with their errno.
 */
export class OverlayFuseOps implements FuseOperations {
  readonly nodes = new NodeTable();
  private readonly files = new Map<number, OpenFile>();
  /** The open files of each node id (GETATTR of an open file asks for any of them). */
  private readonly openByNode = new Map<number, Set<OpenFile>>();
  /** Listings being read, by directory node id (bounded: a reader that stops midway is forgotten). */
  private readonly listings = new LRUCache<number, { gen: number; dir: DirHandle }>({ max: 256 });
  private readonly backings = new Map<number, Backing>();
  private nextFh = 1;
  passthrough: Passthrough | null = null;
  /**
   * FUSE_POSIX_ACL with FUSE_DONT_MASK negotiated: the kernel sends modes without the umask applied
   * (and the umask beside them), since a default ACL replaces the umask; the engine applies either.
   */
  unmaskedModes = false;
  /** FUSE_WRITEBACK_CACHE negotiated: the kernel reads pages of files opened write-only, and appends itself. */
  writebackCache = false;

  constructor(
    private readonly ov: Overlay,
    private readonly timeouts: CacheTimeouts = { lower: 3600, upper: 60 },
    private readonly uids = new IdMap(),
    private readonly gids = new IdMap(),
    /** xattr_permissions=2: ownership and permissions recorded in an xattr (null: in the inode). */
    private readonly override: StatOverride | null = null,
  ) {}

  /** Attributes as the mount shows them (owners through the id maps). */
  private fuseAttr(a: Attr, node?: OverlayNode): fuse.FuseAttr {
    const recorded = this.override !== null && node !== undefined ? this.override.read(this.ov, node) : null;
    if (recorded !== null) a = { ...a, uid: recorded.uid, gid: recorded.gid, mode: (a.mode & ~0o7777) | recorded.mode };
    const out = toFuseAttr(a, a.ino);
    out.uid = this.uids.toContainer(a.uid);
    out.gid = this.gids.toContainer(a.gid);
    return out;
  }

  /** The caller as the upper layer stores it. */
  private owner(ctx: FuseContext): { uid: number; gid: number } {
    return { uid: this.uids.toHost(ctx.uid), gid: this.gids.toHost(ctx.gid) };
  }

  private timeoutFor(node: OverlayNode): number {
    // The root stays short: a stat of the mountpoint is how a dead server is noticed.
    if (node.path === '') return 1;
    return node.isUpper ? this.timeouts.upper : this.timeouts.lower;
  }

  /** An entry reply for `path`, counting the kernel's new reference. */
  private entry(path: string, found?: OverlayNode): fuse.FuseEntry {
    const node = found ?? this.ov.resolve(path);
    const attr = this.ov.getattr(node);
    const nodeid = path === '' ? ROOT_ID : this.nodes.remember(attr.ino, path);
    if (node.isDir) {
      // Directories are asked for by node id all the time (lookups in them); files are not worth
      // the memory of keeping their node for as long as the kernel keeps the inode.
      const n = this.nodes.get(nodeid);
      n.node = node;
      n.gen = this.ov.generation;
    }
    const t = this.timeoutFor(node);
    return { nodeid, attr: this.fuseAttr(attr, node), entryTimeout: t, attrTimeout: t };
  }

  private path(nodeid: number): string {
    const n = this.nodes.get(nodeid);
    if (n.detached) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
    return n.path;
  }

  /** The engine node behind `nodeid`: the one remembered while nothing changed, else looked up by path. */
  private nodeOf(nodeid: number): OverlayNode {
    const n = this.nodes.get(nodeid);
    if (n.detached) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
    const gen = this.ov.generation;
    if (n.node !== undefined && n.gen === gen) return n.node;
    const node = this.ov.resolve(n.path);
    if (node.isDir) {
      n.node = node;
      n.gen = gen;
    }
    return node;
  }

  /** The node id the object at `path` has (or would get), or null if there is none. */
  private idAt(path: string): number | null {
    const node = this.ov.tryResolve(path);
    return node === null ? null : this.nodes.idOf(this.ov.getattr(node).ino) ?? null;
  }

  private addFile(fh: number, f: OpenFile): void {
    this.files.set(fh, f);
    let open = this.openByNode.get(f.nodeid);
    if (open === undefined) this.openByNode.set(f.nodeid, (open = new Set()));
    open.add(f);
  }

  private removeFile(fh: number, f: OpenFile): void {
    this.files.delete(fh);
    const open = this.openByNode.get(f.nodeid);
    if (open !== undefined && open.delete(f) && open.size === 0) this.openByNode.delete(f.nodeid);
  }

  /** An open file of `nodeid`: the one named by `fh`, else any. */
  private openOf(nodeid: number, fh: number | undefined): OpenFile | undefined {
    const f = fh !== undefined ? this.files.get(fh) : undefined;
    if (f !== undefined) return f;
    const open = this.openByNode.get(nodeid);
    return open === undefined ? undefined : open.values().next().value;
  }

  private attrOut(path: string, nodeid: number): { attr: fuse.FuseAttr; attrTimeout: number } {
    const node = this.nodes.get(nodeid).path === path ? this.nodeOf(nodeid) : this.ov.resolve(path);
    return { attr: this.fuseAttr(this.ov.getattr(node), node), attrTimeout: this.timeoutFor(node) };
  }

  lookup(_ctx: FuseContext, a: fuse.NameIn): fuse.FuseEntry {
    const path = joinPath(this.path(a.nodeid), a.name);
    const node = this.ov.tryLookup(this.nodeOf(a.nodeid), a.name);
    // A negative entry the kernel may cache for a second (the name may be created through us meanwhile).
    if (node === null) return { nodeid: 0, attr: NO_ATTR, entryTimeout: 1 };
    return this.entry(path, node);
  }

  forget(_ctx: FuseContext, a: fuse.ForgetIn): void {
    this.nodes.forget(a.nodeid, a.nlookup);
  }

  getattr(_ctx: FuseContext, a: fuse.GetattrIn): { attr: fuse.FuseAttr; attrTimeout: number } {
    // An open file may have no name any more (unlinked, renamed over): answer from its descriptor.
    // The kernel sends no fh for fstat(), so any open file of the node will do.
    const open = this.openOf(a.nodeid, a.fh);
    if (open !== undefined) {
      const byPath = this.nodes.get(a.nodeid).detached ? null : this.tryAttr(a.nodeid);
      if (byPath === null) return { attr: this.fuseAttr({ ...open.handle.stat(), ino: this.nodes.get(a.nodeid).ino }), attrTimeout: 0 };
      return byPath;
    }
    return this.attrOut(this.path(a.nodeid), a.nodeid);
  }

  private tryAttr(nodeid: number): { attr: fuse.FuseAttr; attrTimeout: number } | null {
    try {
      return this.attrOut(this.path(nodeid), nodeid);
    } catch {
      return null;
    }
  }

  async setattr(_ctx: FuseContext, a: fuse.SetattrIn): Promise<{ attr: fuse.FuseAttr; attrTimeout: number }> {
    const open = this.openOf(a.nodeid, a.fh);
    if (this.nodes.get(a.nodeid).detached && open !== undefined) {
      // unlinked (or renamed over) but open: only its descriptor reaches it
      if (a.size !== undefined) open.handle.truncate(a.size);
      return { attr: this.fuseAttr({ ...open.handle.stat(), ino: this.nodes.get(a.nodeid).ino }), attrTimeout: 0 };
    }
    const path = this.path(a.nodeid);
    let mode = a.mode;
    if (a.killSuidgid && mode === undefined) mode = this.clearedSetId(path);
    if (open !== undefined && a.size !== undefined && this.ov.tryResolve(path) === null) {
      open.handle.truncate(a.size); // unlinked but open
    } else {
      const uid = a.uid === undefined ? undefined : this.uids.toHost(a.uid);
      const gid = a.gid === undefined ? undefined : this.gids.toHost(a.gid);
      if (this.override !== null && (mode !== undefined || uid !== undefined || gid !== undefined)) {
        // Recorded, not applied: the inode keeps what the (unprivileged) server can give it.
        const shown = this.fuseAttr(this.ov.getattr(path), this.ov.resolve(path));
        await this.override.write(this.ov, path, { uid, gid, mode: mode === undefined ? undefined : mode & 0o7777 }, {
          uid: this.uids.toHost(shown.uid), gid: this.gids.toHost(shown.gid), mode: shown.mode & 0o7777,
        });
        if (a.size !== undefined || a.atime !== undefined || a.mtime !== undefined) {
          await this.ov.setattr(path, { size: a.size, atime: a.atime, mtime: a.mtime });
        }
      } else {
        await this.ov.setattr(path, { mode, uid, gid, size: a.size, atime: a.atime, mtime: a.mtime });
      }
    }
    return this.attrOut(path, a.nodeid);
  }

  /**
   * Open flags for our own descriptor. Under the writeback cache the kernel reads the pages it
   * partly writes (even through a write-only open) and places appends itself, sending explicit
   * offsets: so read-write, and no O_APPEND (which would send every write to the end).
   */
  private servedFlags(flags: number): number {
    if (!this.writebackCache) return flags;
    const { O } = sys;
    let f = flags & ~O.APPEND;
    if ((f & (O.RDONLY | O.WRONLY | O.RDWR)) === O.WRONLY) f = (f & ~O.WRONLY) | O.RDWR;
    return f;
  }

  /** Who creates an object, with the umask to apply when the kernel did not (unmaskedModes). */
  private creator(ctx: FuseContext, umask: number): Caller {
    const owner = this.owner(ctx);
    return this.unmaskedModes ? { ...owner, umask } : owner;
  }

  /** xattr_permissions=2: a new object records its creator and requested mode. */
  private async recordNew(path: string, ctx: FuseContext, mode: number): Promise<void> {
    if (this.override === null) return;
    const owner = this.owner(ctx);
    await this.override.write(this.ov, path, {}, { uid: owner.uid, gid: owner.gid, mode: mode & 0o7777 });
  }

  /** The mode with set-user-ID and (when group-executable) set-group-ID cleared, as a write by a non-owner does. */
  private clearedSetId(path: string): number | undefined {
    const m = this.ov.getattr(path).mode;
    const cleared = m & ~S_ISUID & ~((m & S_IXGRP) !== 0 ? S_ISGID : 0);
    return cleared === m ? undefined : cleared & 0o7777;
  }

  readlink(_ctx: FuseContext, a: fuse.NodeIn): string {
    return this.ov.readlink(this.path(a.nodeid));
  }

  async symlink(ctx: FuseContext, a: fuse.SymlinkIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.symlink(a.target, path, this.owner(ctx));
    return this.entry(path);
  }

  async mknod(ctx: FuseContext, a: fuse.MknodIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mknod(path, a.mode, a.rdev, this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
    return this.entry(path);
  }

  async mkdir(ctx: FuseContext, a: fuse.MkdirIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mkdir(path, a.mode & 0o7777, this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
    return this.entry(path);
  }

  async unlink(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const victim = this.idAt(path);
    await this.ov.unlink(path);
    if (victim !== null) this.nodes.detach(victim, path);
  }

  async rmdir(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const victim = this.idAt(path);
    await this.ov.rmdir(path);
    if (victim !== null) this.nodes.detach(victim, path);
  }

  async rename(_ctx: FuseContext, a: fuse.RenameIn): Promise<void> {
    const from = joinPath(this.path(a.nodeid), a.name);
    const to = joinPath(this.path(a.newParent), a.newName);
    // RENAME_WHITEOUT is for overlayfs itself, not for users of one (the kernel overlay refuses it too).
    if ((a.flags & sys.RENAME.WHITEOUT) !== 0) throw Object.assign(new Error('RENAME_WHITEOUT'), { code: 'EINVAL' });
    const exchange = (a.flags & sys.RENAME.EXCHANGE) !== 0;
    // The object renamed over loses its name; open descriptors may still reach it.
    const victim = exchange ? null : this.idAt(to);
    const moving = victim === null ? null : this.idAt(from);
    await this.ov.rename(from, to, { noReplace: (a.flags & sys.RENAME.NOREPLACE) !== 0, exchange });
    if (victim !== null && victim !== moving) this.nodes.detach(victim, to);
    this.nodes.moved(from, to, exchange);
  }

  async link(_ctx: FuseContext, a: fuse.LinkIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.newName);
    await this.ov.link(this.path(a.oldNodeid), path);
    // The reply must name the inode the kernel linked (it updates that one's link count from the
    // reply): a copy-up that gave the object a new number (a lower symlink or fifo) keeps the node id.
    this.nodes.rebind(a.oldNodeid, this.ov.getattr(path).ino);
    return this.entry(path);
  }

  private register(handle: FileHandle, nodeid: number): fuse.OpenOut {
    const fh = this.nextFh++;
    let backingId = 0;
    if (this.passthrough !== null) {
      // Every passthrough open of one inode must name the same backing (else the kernel fails it with EIO).
      const st = handle.identity();
      const shared = this.backings.get(nodeid);
      if (shared !== undefined && shared.dev === st.dev && shared.ino === st.ino) {
        shared.refs++;
        backingId = shared.id;
      } else if (shared === undefined) {
        try {
          backingId = this.passthrough.open(handle.fd);
          this.backings.set(nodeid, { id: backingId, dev: st.dev, ino: st.ino, refs: 1 });
        } catch {
          backingId = 0; // served reads and writes instead
        }
      } else {
        // Open already, in passthrough, on another file (the lower one, before this copy-up): the
        // kernel allows neither a second backing nor a served open of this inode. So the object gets
        // a new node id and the open fails with ESTALE: the VFS retries it once with LOOKUP_REVAL,
        // the lookup answers the new id, and the retry opens a new inode backed by the upper file.
        // Readers that had it open keep the old inode and the data they opened (as overlayfs did
        // before it learned to share inodes across copy-up).
        handle.close();
        this.nodes.renew(nodeid);
        throw Object.assign(new Error(`node ${nodeid} was copied up under open readers`), { code: 'ESTALE' });
      }
    }
    this.addFile(fh, { handle, backingId, nodeid });
    // No FOPEN_KEEP_CACHE for files: a handle opened on the lower file before a copy-up would fill
    // the inode's page cache with the old data, and later opens would be served that.
    return backingId > 0 ? { fh, backingId } : { fh };
  }

  private dropBacking(f: OpenFile): void {
    if (f.backingId <= 0) return;
    const b = this.backings.get(f.nodeid);
    if (b !== undefined && b.id === f.backingId) {
      if (--b.refs > 0) return;
      this.backings.delete(f.nodeid);
    }
    this.passthrough?.close(f.backingId);
  }

  async open(_ctx: FuseContext, a: fuse.OpenIn): Promise<fuse.OpenOut> {
    const path = this.path(a.nodeid);
    if ((a.openFlags & fuse.OPEN_KILL_SUIDGID) !== 0) {
      const mode = this.clearedSetId(path);
      if (mode !== undefined) await this.ov.setattr(path, { mode });
    }
    const handle = await this.ov.open(path, this.servedFlags(a.flags & ~(sys.O.CREAT | sys.O.EXCL)));
    return this.register(handle, a.nodeid);
  }

  async create(ctx: FuseContext, a: fuse.CreateIn): Promise<fuse.FuseEntry & fuse.OpenOut> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const handle = await this.ov.create(path, a.mode & 0o7777, this.servedFlags(a.flags), this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
    const entry = this.entry(path);
    try {
      return { ...entry, ...this.register(handle, entry.nodeid) };
    } catch (err) {
      this.nodes.forget(entry.nodeid, 1);
      throw err;
    }
  }

  private file(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (f === undefined) throw Object.assign(new Error(`bad file handle ${fh}`), { code: 'EBADF' });
    return f;
  }

  async read(_ctx: FuseContext, a: fuse.ReadIn): Promise<Uint8Array> {
    const buf = Buffer.allocUnsafe(a.size);
    const n = await this.file(a.fh).handle.read(buf, 0, a.size, a.offset);
    return buf.subarray(0, n);
  }

  async write(_ctx: FuseContext, a: fuse.WriteIn): Promise<number> {
    const f = this.file(a.fh);
    if ((a.writeFlags & fuse.WRITE_KILL_SUIDGID) !== 0) {
      const path = this.path(a.nodeid);
      const mode = this.clearedSetId(path);
      if (mode !== undefined) await this.ov.setattr(path, { mode });
    }
    let done = 0;
    while (done < a.data.length) done += await f.handle.write(a.data, done, a.data.length - done, a.offset + done);
    return done;
  }

  // No flush(): data goes straight to the layer file, nothing is buffered here. The session answers
  // FLUSH with ENOSYS once and the kernel never sends it again, so close() costs no round trip.

  release(_ctx: FuseContext, a: fuse.ReleaseIn): void {
    const f = this.files.get(a.fh);
    if (f === undefined) return;
    this.removeFile(a.fh, f);
    this.dropBacking(f);
    f.handle.close();
  }

  async fsync(_ctx: FuseContext, a: fuse.FsyncIn): Promise<void> {
    // volatile: every sync of the upper is omitted (kernel overlayfs). ENOSYS makes the kernel stop
    // sending FSYNC and answer fsync(2) with 0 itself: no round trip for dpkg's fsync per file.
    if (this.ov.config.volatile) throw Object.assign(new Error('volatile'), { code: 'ENOSYS' });
    await this.file(a.fh).handle.sync(a.datasync);
  }

  /**
   * No OPENDIR: answering ENOSYS makes the kernel stop sending OPENDIR and RELEASEDIR (two round
   * trips per directory) and cache listings across opens (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR, its
   * default then); it drops a cached listing itself when it changes the directory.
   */
  opendir(): never {
    throw Object.assign(new Error('no opendir'), { code: 'ENOSYS' });
  }

  /** A listing per directory node, taken at the first read and kept while nothing changes. */
  private listingOf(nodeid: number): DirHandle {
    const gen = this.ov.generation;
    const cached = this.listings.get(nodeid);
    if (cached !== undefined && cached.gen === gen) return cached.dir;
    const dir = this.ov.opendir(this.nodeOf(nodeid));
    this.listings.set(nodeid, { gen, dir });
    return dir;
  }

  readdir(_ctx: FuseContext, a: fuse.ReadIn): fuse.DirEntry[] {
    // Offsets index the listing; an unchanged directory lists in the same order every time.
    const dir = this.listingOf(a.nodeid);
    // Enough entries to fill the reply; the session packs what fits.
    return dir.read(a.offset, Math.max(16, Math.ceil(a.size / 24))).map(({ entry, nextOffset }) => ({
      name: entry.name, ino: entry.ino, type: entry.type, off: nextOffset,
    }));
  }

  async fsyncdir(_ctx: FuseContext, a: fuse.FsyncIn): Promise<void> {
    if (this.ov.config.volatile) throw Object.assign(new Error('volatile'), { code: 'ENOSYS' }); // as fsync
    await this.ov.syncDir(this.nodeOf(a.nodeid));
  }

  statfs(): fuse.FuseStatfs {
    const s = this.ov.statfs();
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: s.namelen, frsize: s.frsize };
  }

  access(): void {
    /* permission checks are the kernel's (default_permissions) */
  }

  getxattr(_ctx: FuseContext, a: fuse.GetxattrIn): Buffer {
    if (this.override !== null && a.name === this.override.xattr) throw Object.assign(new Error('private xattr'), { code: 'ENODATA' });
    return this.ov.getxattr(this.path(a.nodeid), a.name);
  }

  listxattr(_ctx: FuseContext, a: fuse.ListxattrIn): string[] {
    const names = this.ov.listxattr(this.path(a.nodeid));
    return this.override === null ? names : names.filter((n) => n !== this.override!.xattr);
  }

  async setxattr(_ctx: FuseContext, a: fuse.SetxattrIn): Promise<void> {
    if (this.override !== null && a.name === this.override.xattr) throw Object.assign(new Error('private xattr'), { code: 'EPERM' });
    const path = this.path(a.nodeid);
    await this.ov.setxattr(path, a.name, a.value, a.flags);
    // Setting an access ACL by a caller outside the file's group (and without CAP_FSETID) drops
    // set-group-ID, as chmod would; the kernel says so, the server does it (we have CAP_FSETID).
    if ((a.setxattrFlags & fuse.SETXATTR_ACL_KILL_SGID) !== 0 && a.name === ACL_ACCESS) {
      const mode = this.ov.getattr(path).mode;
      if ((mode & S_ISGID) !== 0) await this.ov.setattr(path, { mode: mode & 0o7777 & ~S_ISGID });
    }
  }

  async removexattr(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    if (this.override !== null && a.name === this.override.xattr) throw Object.assign(new Error('private xattr'), { code: 'EPERM' });
    await this.ov.removexattr(this.path(a.nodeid), a.name);
  }

  async fallocate(_ctx: FuseContext, a: fuse.FallocateIn): Promise<void> {
    await this.file(a.fh).handle.fallocate(a.mode, a.offset, a.length);
  }

  lseek(_ctx: FuseContext, a: fuse.LseekIn): number {
    return sys.lseek(this.file(a.fh).handle.fd, a.offset, a.whence);
  }

  async copyFileRange(_ctx: FuseContext, a: fuse.CopyFileRangeIn): Promise<number> {
    const src = this.file(a.fhIn).handle.fd;
    const dst = this.file(a.fhOut).handle.fd;
    return sys.copyFileRangeAsync(src, a.offIn, dst, a.offOut, a.len, 0);
  }

  /** Closes every open handle (at unmount). */
  closeAll(): void {
    for (const [fh, f] of this.files) {
      this.removeFile(fh, f);
      this.dropBacking(f);
      f.handle.close();
    }
    this.listings.clear();
  }
}
