import type { Attr, FileHandle, Overlay, OverlayNode } from '../engine';
import { wantsWrite } from '../engine';
import * as fuse from '../fuse';
import type { FuseContext, FuseOperations } from '../fuse';
import * as sys from '../sys';
import { NO_ATTR } from './attr';
import { IdMap } from './idmap';
import { servedFlags } from './io-mode';
import { Listings } from './listings';
import { NOTHING_NEGOTIATED, type Negotiated } from './negotiated';
import { NodeFiles } from './node-files';
import { NodeTable, type TableNode } from './node-table';
import { OpenFiles, type OpenFile } from './open-files';
import { StatOverride } from './override-stat';
import { EdgePolicy } from './policy';
import * as setid from './setid';

/** How long the kernel may cache what we answer: lower layers never change under the mount. */
export interface CacheTimeouts {
  /** for objects in lower layers (seconds) */
  lower: number;
  /** for objects in the upper layer (seconds): they change only through this mount, and the kernel
   *  drops what it cached itself when it changes them (writes, unlink, rename) */
  upper: number;
}

const joinPath = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
/** The answer to OPEN under kernel opens: the kernel then opens files itself and never asks again. */
const NO_OPEN = Object.freeze({ code: 'ENOSYS', errno: sys.codeErrno('ENOSYS')! });

/**
 * The FUSE glue: translates each FUSE operation into engine calls and its reply, and nothing more.
 * Node ids map to merged paths and engine nodes (NodeTable; entry(), nameOf(), path(), nodeOf()),
 * file handles to open files (OpenFiles; under kernel opens, NodeFiles). What the mount shows or
 * stores differently from the engine is the policy's (EdgePolicy). Errors pass through with their errno.
 */
export class OverlayFuseOps implements FuseOperations {
  /** Node ids the kernel holds; a forgotten directory's engine node is let go. */
  readonly nodes = new NodeTable((n) => {
    if (n.node !== undefined) this.ov.release(n.node);
  });
  readonly files = new OpenFiles();
  private readonly nodeFiles: NodeFiles;
  private readonly listings: Listings;
  private readonly policy: EdgePolicy;
  private granted: Readonly<Negotiated> = NOTHING_NEGOTIATED;

  constructor(
    private readonly ov: Overlay,
    private readonly timeouts: CacheTimeouts = { lower: 3600, upper: 60 },
    uids = new IdMap(),
    gids = new IdMap(),
    /** xattr_permissions: ownership and permissions recorded in an xattr (null: in the inode). */
    override: StatOverride | null = null,
  ) {
    this.policy = new EdgePolicy(ov, uids, gids, override);
    this.nodeFiles = new NodeFiles(ov, this.files, (nodeid) => this.nameOf(nodeid));
    this.listings = new Listings(ov);
  }

  /** What INIT negotiated (lib/mount/negotiated.ts): given once the session is up, before any other request. */
  negotiated(init: Negotiated): void {
    this.granted = init;
    this.files.usePassthrough(init.passthrough);
  }

  // --- node ids -> paths and engine nodes (NodeTable) ---

  /** An entry reply for `name` in directory node `parentId`, counting the kernel's new reference. */
  private entry(parentId: number, name: string, found?: OverlayNode): fuse.FuseEntry {
    const node = found ?? this.ov.lookup(this.nodeOf(parentId), name);
    const attr = this.ov.getattr(node);
    const nodeid = this.nodes.remember(attr.ino, this.nodes.get(parentId), name);
    // Directories are asked for by node id all the time (lookups in them); files are not worth
    // the memory of keeping their node for as long as the kernel keeps the inode.
    if (node.isDir) this.keepNode(this.nodes.get(nodeid), node);
    return this.entryReply(nodeid, node, attr);
  }

  private entryReply(nodeid: number, node: OverlayNode, attr: Attr): fuse.FuseEntry {
    const t = this.timeoutFor(node);
    const out = this.policy.shown(attr, node);
    return { nodeid, attr: out, entryTimeout: t, attrTimeout: this.attrTimeout(nodeid, out.mode, t) };
  }

  /** A directory's engine node, held: the engine keeps it current (changed in place, moved, or stale). */
  private keepNode(n: TableNode, node: OverlayNode): void {
    if (n.node === node) return;
    this.ov.hold(node);
    if (n.node !== undefined) this.ov.release(n.node);
    n.node = node;
  }

  /** The merged path of `nodeid`, or null when it has no name any more (unlinked, renamed over). */
  private nameOf(nodeid: number): string | null {
    const n = this.nodes.get(nodeid);
    return n.detached ? null : this.nodes.pathOf(n);
  }

  private path(nodeid: number): string {
    const path = this.nameOf(nodeid);
    if (path === null) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
    return path;
  }

  /**
   * The engine node behind `nodeid`: a directory's held one while it is current, else looked up by
   * name in its parent's (from the nearest current ancestor down: trees may be 10,000 deep).
   */
  private nodeOf(nodeid: number): OverlayNode {
    const n = this.nodes.get(nodeid);
    if (n.detached) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
    if (n.node !== undefined && !n.node.stale) return n.node;
    const chain: TableNode[] = [];
    let at = n;
    while (at.parent !== null && (at.node === undefined || at.node.stale)) {
      chain.push(at);
      at = at.parent;
    }
    let node = at.parent === null ? this.ov.root : at.node!;
    for (let i = chain.length - 1; i >= 0; i--) {
      node = this.ov.lookup(node, chain[i].name);
      if (node.isDir) this.keepNode(chain[i], node);
    }
    return node;
  }

  /** The node id the object `name` in directory node `parentId` has, or null if there is none. */
  private idAt(parentId: number, name: string): number | null {
    const node = this.ov.tryLookup(this.nodeOf(parentId), name);
    return node === null ? null : this.nodes.idOf(node.ino) ?? null;
  }

  // --- attributes ---

  private timeoutFor(node: OverlayNode): number {
    // The root stays short: a stat of the mountpoint is how a dead server is noticed.
    if (node.parent === null) return 1;
    return node.isUpper ? this.timeouts.upper : this.timeouts.lower;
  }

  private attrOut(nodeid: number): { attr: fuse.FuseAttr; attrTimeout: number } {
    const node = this.nodeOf(nodeid);
    const attr = this.policy.shown(this.ov.getattr(node), node);
    return { attr, attrTimeout: this.attrTimeout(nodeid, attr.mode, this.timeoutFor(node)) };
  }

  /** Attributes from an open descriptor of a node without a name (nothing cached). */
  private openAttr(nodeid: number, open: OpenFile): { attr: fuse.FuseAttr; attrTimeout: number } {
    const a: Attr = { ...open.handle.stat(), ino: this.nodes.get(nodeid).ino };
    return { attr: this.policy.shown(a), attrTimeout: 0 };
  }

  /**
   * How long the kernel may keep attributes: not at all for a set-ID file open for writing in
   * passthrough (it got the bits while open): a write there clears them in the upper file without
   * our knowing (the backing file's credentials lack CAP_FSETID, lib/sys fuseBackingOpen).
   */
  private attrTimeout(nodeid: number, mode: number, t: number): number {
    return setid.hasSetId(mode) && this.files.writableInPassthrough(nodeid) ? 0 : t;
  }

  // --- operations ---

  lookup(_ctx: FuseContext, a: fuse.NameIn): fuse.FuseEntry {
    if (a.name === '.' || a.name === '..') {
      // Only for exported file handles; the node (or its parent) as it is known.
      const here = this.nodes.get(a.nodeid);
      const n = a.name === '..' ? here.parent ?? here : here;
      n.nlookup++;
      const node = this.nodeOf(n.nodeid);
      return this.entryReply(n.nodeid, node, this.ov.getattr(node));
    }
    const node = this.ov.tryLookup(this.nodeOf(a.nodeid), a.name);
    // A negative entry the kernel may cache for a second (the name may be created through us meanwhile).
    if (node === null) return { nodeid: 0, attr: NO_ATTR, entryTimeout: 1 };
    return this.entry(a.nodeid, a.name, node);
  }

  forget(_ctx: FuseContext, a: fuse.ForgetIn): void {
    if (!this.nodes.forget(a.nodeid, a.nlookup)) return;
    this.nodeFiles.forgotten(a.nodeid);
    this.files.forgotten(a.nodeid);
  }

  getattr(_ctx: FuseContext, a: fuse.GetattrIn): { attr: fuse.FuseAttr; attrTimeout: number } {
    // An open file may have no name any more (unlinked, renamed over): answer from its descriptor.
    // The kernel sends no fh for fstat(), so any open file of the node will do.
    const open = this.files.anyOf(a.nodeid, a.fh);
    if (open !== undefined) {
      const byPath = this.nodes.get(a.nodeid).detached ? null : this.tryAttr(a.nodeid);
      return byPath ?? this.openAttr(a.nodeid, open);
    }
    return this.attrOut(a.nodeid);
  }

  private tryAttr(nodeid: number): { attr: fuse.FuseAttr; attrTimeout: number } | null {
    try {
      return this.attrOut(nodeid);
    } catch {
      return null;
    }
  }

  async setattr(ctx: FuseContext, a: fuse.SetattrIn): Promise<{ attr: fuse.FuseAttr; attrTimeout: number }> {
    const open = this.files.anyOf(a.nodeid, a.fh);
    if (this.nodes.get(a.nodeid).detached && open !== undefined) {
      // unlinked (or renamed over) but open: only its descriptor reaches it
      if (a.size !== undefined) open.handle.truncate(a.size);
      return this.openAttr(a.nodeid, open);
    }
    const path = this.path(a.nodeid);
    let mode = a.mode;
    if (a.killSuidgid && mode === undefined) mode = this.policy.modeAfterChange(ctx, path, true);
    if (open !== undefined && a.size !== undefined && this.ov.tryResolve(path) === null) {
      open.handle.truncate(a.size); // unlinked but open
    } else {
      await this.policy.setattr(path, { mode, uid: a.uid, gid: a.gid, size: a.size, atime: a.atime, mtime: a.mtime });
      if (a.size !== undefined && this.files.readsLowerOnly(a.nodeid)) await this.adoptUpper(path, a.nodeid);
    }
    return this.attrOut(a.nodeid);
  }

  /** The umask for the engine to apply: the kernel's, when it did not apply it (FUSE_DONT_MASK). */
  private umask(umask: number): number | undefined {
    return this.granted.unmaskedModes ? umask : undefined;
  }

  /**
   * Clears what the caller's change to the data of `nodeid` clears of its set-ID bits, before the
   * change, and tells the kernel (its reply carries no attributes). A node without a name is left
   * alone: no path reaches it to run it or to commit it.
   */
  private async killSetId(ctx: FuseContext, nodeid: number, killRequested: boolean): Promise<void> {
    const path = this.nameOf(nodeid);
    if (path !== null && (await this.policy.clearSetId(ctx, path, killRequested))) this.granted.attrsChanged(nodeid);
  }

  readlink(_ctx: FuseContext, a: fuse.NodeIn): string {
    return this.ov.readlink(this.path(a.nodeid));
  }

  async symlink(ctx: FuseContext, a: fuse.SymlinkIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.symlink(a.target, path, this.policy.owner(ctx));
    return this.entry(a.nodeid, a.name);
  }

  async mknod(ctx: FuseContext, a: fuse.MknodIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mknod(path, a.mode, a.rdev, this.policy.creator(ctx, this.umask(a.umask)));
    await this.policy.recordNew(path, ctx, a.mode);
    return this.entry(a.nodeid, a.name);
  }

  async mkdir(ctx: FuseContext, a: fuse.MkdirIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mkdir(path, a.mode & 0o7777, this.policy.creator(ctx, this.umask(a.umask)));
    await this.policy.recordNew(path, ctx, a.mode);
    return this.entry(a.nodeid, a.name);
  }

  async unlink(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const victim = this.idAt(a.nodeid, a.name);
    this.keepReachable(victim, path);
    await this.ov.unlink(path);
    if (victim !== null) this.nodes.detach(victim, this.nodes.get(a.nodeid), a.name);
  }

  async rmdir(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const victim = this.idAt(a.nodeid, a.name);
    await this.ov.rmdir(path);
    if (victim !== null) this.nodes.detach(victim, this.nodes.get(a.nodeid), a.name);
  }

  async rename(_ctx: FuseContext, a: fuse.RenameIn): Promise<void> {
    const from = joinPath(this.path(a.nodeid), a.name);
    const to = joinPath(this.path(a.newParent), a.newName);
    // RENAME_WHITEOUT is for overlayfs itself, not for users of one (the kernel overlay refuses it too).
    if ((a.flags & sys.RENAME.WHITEOUT) !== 0) throw Object.assign(new Error('RENAME_WHITEOUT'), { code: 'EINVAL' });
    const exchange = (a.flags & sys.RENAME.EXCHANGE) !== 0;
    const fromDir = this.nodes.get(a.nodeid), toDir = this.nodes.get(a.newParent);
    const source = this.ov.tryLookup(this.nodeOf(a.nodeid), a.name), target = this.ov.tryLookup(this.nodeOf(a.newParent), a.newName);
    const moving = source === null ? null : this.nodes.idOf(source.ino) ?? null;
    const other = target === null ? null : this.nodes.idOf(target.ino) ?? null;
    if (!exchange && other !== moving) this.keepReachable(other, to);
    await this.ov.rename(from, to, { noReplace: (a.flags & sys.RENAME.NOREPLACE) !== 0, exchange });
    // The object renamed over loses its name; open descriptors may still reach it.
    if (!exchange && other !== null && other !== moving) this.nodes.detach(other, toDir, a.newName);
    // One node moves (two when exchanged), a directory with all below it: they hang from it.
    if (moving !== other) {
      if (moving !== null) this.nodes.renamed(moving, fromDir, a.name, toDir, a.newName);
      if (exchange && other !== null) this.nodes.renamed(other, toDir, a.newName, fromDir, a.name);
    }
  }

  async link(_ctx: FuseContext, a: fuse.LinkIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.newName);
    await this.ov.link(this.path(a.oldNodeid), path);
    // The reply must name the inode the kernel linked (it updates that one's link count from the
    // reply): a copy-up that gave the object a new number (a lower symlink or fifo) keeps the node id.
    this.nodes.rebind(a.oldNodeid, this.ov.getattr(path).ino);
    return this.entry(a.nodeid, a.newName);
  }

  // --- open files ---

  /** The open file a request's `fh` names; under kernel opens, file handle 0 names the node's own. */
  private fileOf(nodeid: number, fh: number, write: boolean): OpenFile | Promise<OpenFile> {
    if (fh !== 0 || !this.granted.kernelOpens) return this.files.get(fh);
    return this.nodeFiles.forRequest(nodeid, write);
  }

  /** Kernel opens: a regular file about to lose its last name stays reachable (NodeFiles.keepReachable). */
  private keepReachable(nodeid: number | null, path: string): void {
    if (this.granted.kernelOpens && nodeid !== null) this.nodeFiles.keepReachable(nodeid, path);
  }

  private register(handle: FileHandle, nodeid: number, passthrough = true): fuse.OpenOut {
    try {
      return this.files.register(handle, nodeid, passthrough);
    } catch (err) {
      // copied up under passthrough readers: the retry's lookup gets a new node id (io-mode.ts)
      if ((err as { code?: string }).code === 'ESTALE') this.nodes.renew(nodeid);
      throw err;
    }
  }

  /** Gives served readers of a lower file that was copied up a handle on the upper file (open-files.ts). */
  private async adoptUpper(path: string, nodeid: number): Promise<void> {
    this.files.adoptUpper(nodeid, await this.ov.open(path, sys.O.RDONLY));
  }

  /** A parked handle of `nodeid` that suits `flags` and still holds the file's data, if any. */
  private unparked(nodeid: number, flags: number, path: string): FileHandle | undefined {
    const handle = this.files.unpark(nodeid, flags);
    if (handle !== undefined && !this.ov.holdsData(handle, path)) {
      handle.close();
      return undefined;
    }
    return handle;
  }

  open(ctx: FuseContext, a: fuse.OpenIn): fuse.OpenOut | Promise<fuse.OpenOut> {
    if (this.granted.kernelOpens) throw NO_OPEN;
    const path = this.path(a.nodeid);
    const flags = servedFlags(a.flags & ~(sys.O.CREAT | sys.O.EXCL), this.granted.writebackCache);
    if (wantsWrite(flags) || (a.openFlags & fuse.OPEN_KILL_SUIDGID) !== 0) return this.openForWrite(ctx, a, path, flags);
    // A read-only open copies nothing up: answered synchronously (most opens are these).
    return this.register(this.unparked(a.nodeid, flags, path) ?? this.files.withRoomSync(() => this.ov.openRead(path, flags)), a.nodeid);
  }

  private async openForWrite(ctx: FuseContext, a: fuse.OpenIn, path: string, flags: number): Promise<fuse.OpenOut> {
    // O_TRUNC by a caller without CAP_FSETID
    if ((a.openFlags & fuse.OPEN_KILL_SUIDGID) !== 0) await this.killSetId(ctx, a.nodeid, true);
    const handle = this.unparked(a.nodeid, flags, path) ?? await this.files.withRoom(() => this.ov.open(path, flags));
    const passthrough = this.policy.mayPassThrough(path, wantsWrite(flags));
    const out = this.register(handle, a.nodeid, passthrough);
    if (!passthrough && (out.backingId ?? 0) > 0) {
      // The node was in passthrough already: its writes will not reach us (setid.mayPassThrough),
      // and may clear the bits in the upper file (attrTimeout): the kernel must ask from now on.
      await this.killSetId(ctx, a.nodeid, false);
      this.granted.attrsChanged(a.nodeid);
    }
    // A write open copies up: served readers of the lower file must now read the upper one.
    if (wantsWrite(flags) && this.files.readsLowerOnly(a.nodeid)) await this.adoptUpper(path, a.nodeid);
    return out;
  }

  async create(ctx: FuseContext, a: fuse.CreateIn): Promise<fuse.FuseEntry & fuse.OpenOut> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const handle = await this.ov.create(path, a.mode & 0o7777, servedFlags(a.flags, this.granted.writebackCache), this.policy.creator(ctx, this.umask(a.umask)));
    await this.policy.recordNew(path, ctx, a.mode);
    const entry = this.entry(a.nodeid, a.name);
    try {
      // created with set-ID bits: served, so that its writes clear them or not as the caller's rights say
      const passthrough = setid.mayPassThrough(entry.attr.mode, wantsWrite(handle.flags));
      return { ...entry, ...this.register(handle, entry.nodeid, passthrough) };
    } catch (err) {
      this.nodes.forget(entry.nodeid, 1);
      throw err;
    }
  }

  read(_ctx: FuseContext, a: fuse.ReadIn): Uint8Array | Promise<Uint8Array> {
    const f = this.fileOf(a.nodeid, a.fh, false);
    // After a wait the shared buffer may serve another read before this reply is written: a copy.
    return f instanceof Promise ? f.then((file) => Buffer.from(this.files.read(file, a.offset, a.size))) : this.files.read(f, a.offset, a.size);
  }

  write(ctx: FuseContext, a: fuse.WriteIn): number | Promise<number> {
    const f = this.fileOf(a.nodeid, a.fh, true);
    if (f instanceof Promise || (a.writeFlags & fuse.WRITE_KILL_SUIDGID) !== 0) return this.writeAfterChecks(ctx, f, a);
    return this.files.write(f, a.data, a.offset);
  }

  private async writeAfterChecks(ctx: FuseContext, file: OpenFile | Promise<OpenFile>, a: fuse.WriteIn): Promise<number> {
    const f = await file;
    // the kernel found the caller without CAP_FSETID
    if ((a.writeFlags & fuse.WRITE_KILL_SUIDGID) !== 0) await this.killSetId(ctx, a.nodeid, true);
    return this.files.write(f, a.data, a.offset);
  }

  // No flush(): data goes straight to the layer file, nothing is buffered here. The session answers
  // FLUSH with ENOSYS once and the kernel never sends it again, so close() costs no round trip.

  release(_ctx: FuseContext, a: fuse.ReleaseIn): void {
    this.files.release(a.fh);
  }

  async fsync(_ctx: FuseContext, a: fuse.FsyncIn): Promise<void> {
    // volatile: every sync of the upper is omitted (kernel overlayfs). ENOSYS makes the kernel stop
    // sending FSYNC and answer fsync(2) with 0 itself: no round trip for dpkg's fsync per file.
    if (this.ov.config.volatile) throw Object.assign(new Error('volatile'), { code: 'ENOSYS' });
    // Kernel opens: a node never read or written through us has nothing of ours to sync.
    const f = a.fh === 0 && this.granted.kernelOpens ? this.nodeFiles.of(a.nodeid) : this.files.get(a.fh);
    if (f !== undefined) await this.files.using(f, () => f.handle.sync(a.datasync));
  }

  async fallocate(ctx: FuseContext, a: fuse.FallocateIn): Promise<void> {
    const f = await this.fileOf(a.nodeid, a.fh, true);
    // The kernel sends no KILL_SUIDGID with FALLOCATE and COPY_FILE_RANGE: the caller is looked at here.
    await this.killSetId(ctx, a.nodeid, false);
    await this.files.using(f, () => f.handle.fallocate(a.mode, a.offset, a.length));
  }

  async lseek(_ctx: FuseContext, a: fuse.LseekIn): Promise<number> {
    return this.files.seek(await this.fileOf(a.nodeid, a.fh, false), a.offset, a.whence);
  }

  async copyFileRange(ctx: FuseContext, a: fuse.CopyFileRangeIn): Promise<number> {
    const from = await this.fileOf(a.nodeid, a.fhIn, false);
    const to = await this.fileOf(a.nodeidOut, a.fhOut, true);
    await this.killSetId(ctx, a.nodeidOut, false);
    return this.files.copyRange(from, a.offIn, to, a.offOut, a.len);
  }

  // --- directories, file system, xattrs ---

  /**
   * No OPENDIR: answering ENOSYS makes the kernel stop sending OPENDIR and RELEASEDIR (two round
   * trips per directory) and cache listings across opens (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR, its
   * default then); it drops a cached listing itself when it changes the directory.
   */
  opendir(): never {
    throw Object.assign(new Error('no opendir'), { code: 'ENOSYS' });
  }

  readdir(_ctx: FuseContext, a: fuse.ReadIn): fuse.DirEntry[] {
    // Offsets index the listing; an unchanged directory lists in the same order every time.
    const dir = this.listings.current(a.nodeid) ?? this.listings.start(a.nodeid, this.nodeOf(a.nodeid));
    return this.listings.read(a.nodeid, dir, a.offset, a.size);
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

  /** null: no such attribute (ENODATA, the answer to most: ls -l asks every file for its ACLs). */
  getxattr(_ctx: FuseContext, a: fuse.GetxattrIn): Buffer | null {
    if (this.policy.hidesXattr(a.name)) return null;
    return this.ov.findXattr(this.path(a.nodeid), a.name);
  }

  listxattr(_ctx: FuseContext, a: fuse.ListxattrIn): string[] {
    return this.policy.visibleXattrs(this.ov.listxattr(this.path(a.nodeid)));
  }

  async setxattr(_ctx: FuseContext, a: fuse.SetxattrIn): Promise<void> {
    this.policy.checkXattrChange(a.name);
    const path = this.path(a.nodeid);
    await this.ov.setxattr(path, a.name, a.value, a.flags);
    await this.policy.xattrSet(path, a.name, a.setxattrFlags);
  }

  async removexattr(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    this.policy.checkXattrChange(a.name);
    await this.ov.removexattr(this.path(a.nodeid), a.name);
  }

  /** Closes every open handle (at unmount). */
  closeAll(): void {
    this.nodeFiles.clear();
    this.files.closeAll();
    this.listings.clear();
  }
}
