import { LRUCache } from 'lru-cache';
import type { Attr, Caller, DirHandle, FileHandle, Overlay, OverlayNode } from '../engine';
import { ACL_ACCESS, wantsWrite } from '../engine';
import * as fuse from '../fuse';
import type { FuseContext, FuseOperations } from '../fuse';
import * as sys from '../sys';
import { NO_ATTR, toFuseAttr } from './attr';
import { IdMap } from './idmap';
import { StatOverride } from './override-stat';
import { NodeTable, type TableNode } from './node-table';
import { OpenFiles, type OpenFile, type Passthrough } from './open-files';
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

/** Writes all of a WRITE's data at its offset. */
function writeAll(h: FileHandle, a: fuse.WriteIn): number {
  let done = 0;
  while (done < a.data.length) done += h.writeSync(a.data, done, a.data.length - done, a.offset + done);
  return done;
}

/**
 * The FUSE glue: translates each FUSE operation into engine calls, and nothing more. Node ids map
 * to merged paths (NodeTable), file handles to engine handles. Errors pass through with their errno.
 */
export class OverlayFuseOps implements FuseOperations {
  /** Node ids the kernel holds; a forgotten directory's engine node is let go. */
  readonly nodes = new NodeTable((n) => {
    if (n.node !== undefined) this.ov.release(n.node);
  });
  readonly files = new OpenFiles();
  /** Listings being read, by directory node id (bounded: a reader that stops midway is forgotten). */
  private readonly listings = new LRUCache<number, { gen: number; dir: DirHandle }>({ max: 256 });
  /** The data of the last served read, until its reply is written. */
  private readBuf = Buffer.alloc(0);

  get passthrough(): Passthrough | null {
    return this.files.passthrough;
  }

  set passthrough(p: Passthrough | null) {
    this.files.passthrough = p;
  }
  /**
   * FUSE_POSIX_ACL with FUSE_DONT_MASK negotiated: the kernel sends modes without the umask applied
   * (and the umask beside them), since a default ACL replaces the umask; the engine applies either.
   */
  unmaskedModes = false;
  /** FUSE_WRITEBACK_CACHE negotiated: the kernel reads pages of files opened write-only, and appends itself. */
  writebackCache = false;
  /**
   * Kernel opens (FUSE's no_open): OPEN is answered ENOSYS, after which the kernel opens and closes
   * files itself (open(2) and close(2) cost no round trip) and keeps each inode's page cache across
   * opens. Its READs and WRITEs then carry file handle 0 and name only the node: each node gets a
   * file of ours, opened at its first read (the layer file that holds its data) or first write
   * (copied up, read-write). Needs served I/O: passthrough is set up by OPEN.
   */
  kernelOpens = false;
  /** Node files being opened (a write's copy-up may take a while): one open per node at a time. */
  private readonly nodeFileOpens = new Map<number, Promise<OpenFile>>();
  /**
   * Tells the kernel that a node's attributes changed outside a reply that carries them (set-ID
   * bits cleared on a WRITE, OPEN, FALLOCATE or COPY_FILE_RANGE): it would show its cached mode.
   */
  attrsChanged: (nodeid: number) => void = () => undefined;

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
    if (node.parent === null) return 1;
    return node.isUpper ? this.timeouts.upper : this.timeouts.lower;
  }

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
    const out = this.fuseAttr(attr, node);
    return { nodeid, attr: out, entryTimeout: t, attrTimeout: this.attrTimeout(nodeid, out.mode, t) };
  }

  /** A directory's engine node, held: the engine keeps it current (changed in place, moved, or stale). */
  private keepNode(n: TableNode, node: OverlayNode): void {
    if (n.node === node) return;
    this.ov.hold(node);
    if (n.node !== undefined) this.ov.release(n.node);
    n.node = node;
  }

  private path(nodeid: number): string {
    const n = this.nodes.get(nodeid);
    if (n.detached) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
    return this.nodes.pathOf(n);
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

  private attrOut(nodeid: number): { attr: fuse.FuseAttr; attrTimeout: number } {
    const node = this.nodeOf(nodeid);
    const attr = this.fuseAttr(this.ov.getattr(node), node);
    return { attr, attrTimeout: this.attrTimeout(nodeid, attr.mode, this.timeoutFor(node)) };
  }

  /**
   * How long the kernel may keep attributes: not at all for a set-ID file open for writing in
   * passthrough (it got the bits while open): a write there clears them in the upper file without
   * our knowing (the backing file's credentials lack CAP_FSETID, lib/sys fuseBackingOpen).
   */
  private attrTimeout(nodeid: number, mode: number, t: number): number {
    return setid.hasSetId(mode) && this.files.writableInPassthrough(nodeid) ? 0 : t;
  }

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
    if (this.nodes.forget(a.nodeid, a.nlookup)) this.files.forgotten(a.nodeid);
  }

  getattr(_ctx: FuseContext, a: fuse.GetattrIn): { attr: fuse.FuseAttr; attrTimeout: number } {
    // An open file may have no name any more (unlinked, renamed over): answer from its descriptor.
    // The kernel sends no fh for fstat(), so any open file of the node will do.
    const open = this.files.anyOf(a.nodeid, a.fh);
    if (open !== undefined) {
      const byPath = this.nodes.get(a.nodeid).detached ? null : this.tryAttr(a.nodeid);
      if (byPath === null) return { attr: this.fuseAttr({ ...open.handle.stat(), ino: this.nodes.get(a.nodeid).ino }), attrTimeout: 0 };
      return byPath;
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
      return { attr: this.fuseAttr({ ...open.handle.stat(), ino: this.nodes.get(a.nodeid).ino }), attrTimeout: 0 };
    }
    const path = this.path(a.nodeid);
    let mode = a.mode;
    if (a.killSuidgid && mode === undefined) mode = this.modeAfterChange(ctx, path, true);
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
      if (a.size !== undefined && this.files.readsLowerOnly(a.nodeid)) await this.adoptUpper(path, a.nodeid);
    }
    return this.attrOut(a.nodeid);
  }

  /**
   * Open flags for our own descriptor. Under the writeback cache the kernel reads the pages it
   * partly writes (even through a write-only open) and places appends itself, sending explicit
   * offsets: so read-write, and no O_APPEND (which would send every write to the end).
   */
  private servedFlags(flags: number): number {
    const { O } = sys;
    // Our descriptor never needs O_DIRECT: passthrough does direct I/O with the caller's flags, and
    // served I/O goes through our own buffers, which O_DIRECT would want aligned (EINVAL otherwise).
    const plain = flags & ~O.DIRECT;
    if (!this.writebackCache) return plain;
    let f = plain & ~O.APPEND;
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

  /** The mode as the mount shows it (through xattr_permissions' record) and the group it compares with. */
  private shownMode(path: string): { mode: number; gid: number } {
    const node = this.ov.resolve(path);
    const a = this.fuseAttr(this.ov.getattr(node), node);
    return { mode: a.mode, gid: a.gid };
  }

  /**
   * The permission bits the caller's change to the file's data (or chown: `killRequested`) leaves
   * at `path` (lib/mount/setid.ts), or undefined when they stay as they are.
   */
  private modeAfterChange(ctx: FuseContext, path: string, killRequested: boolean): number | undefined {
    const { mode, gid } = this.shownMode(path);
    if (!setid.hasSetId(mode)) return undefined;
    const after = setid.modeAfterChange(mode, gid, setid.writerOf(ctx), killRequested);
    return after === (mode & 0o7777) ? undefined : after;
  }

  /**
   * Clears what the caller's change to the data of `nodeid` clears of its set-ID bits, before the
   * change, and tells the kernel (its reply carries no attributes). A node without a name is left
   * alone: no path reaches it to run it or to commit it.
   */
  private async killSetId(ctx: FuseContext, nodeid: number, killRequested: boolean): Promise<void> {
    if (this.nodes.get(nodeid).detached) return;
    const path = this.path(nodeid);
    const mode = this.modeAfterChange(ctx, path, killRequested);
    if (mode === undefined) return;
    if (this.override !== null) {
      const shown = this.fuseAttr(this.ov.getattr(path), this.ov.resolve(path));
      await this.override.write(this.ov, path, { mode }, {
        uid: this.uids.toHost(shown.uid), gid: this.gids.toHost(shown.gid), mode: shown.mode & 0o7777,
      });
    } else {
      await this.ov.setattr(path, { mode });
    }
    this.attrsChanged(nodeid);
  }

  readlink(_ctx: FuseContext, a: fuse.NodeIn): string {
    return this.ov.readlink(this.path(a.nodeid));
  }

  async symlink(ctx: FuseContext, a: fuse.SymlinkIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.symlink(a.target, path, this.owner(ctx));
    return this.entry(a.nodeid, a.name);
  }

  async mknod(ctx: FuseContext, a: fuse.MknodIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mknod(path, a.mode, a.rdev, this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
    return this.entry(a.nodeid, a.name);
  }

  async mkdir(ctx: FuseContext, a: fuse.MkdirIn): Promise<fuse.FuseEntry> {
    const path = joinPath(this.path(a.nodeid), a.name);
    await this.ov.mkdir(path, a.mode & 0o7777, this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
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

  /** The open file a request's `fh` names; under kernel opens, file handle 0 names the node's own. */
  private fileOf(nodeid: number, fh: number, write: boolean): OpenFile | Promise<OpenFile> {
    if (fh !== 0 || !this.kernelOpens) return this.files.get(fh);
    const f = this.files.nodeFileOf(nodeid);
    const opening = this.nodeFileOpens.has(nodeid);
    if (f !== undefined && !opening && this.servesNode(f, nodeid, write)) return f;
    const n = this.nodes.get(nodeid);
    if (!write && !opening && !n.detached) {
      // A read: the layer file that holds the data, opened in place (no copy-up, nothing to wait for).
      return this.files.setNodeFile(nodeid, this.files.withRoomSync(() => this.ov.openInPlace(this.path(nodeid))));
    }
    return this.openNodeFile(nodeid, write);
  }

  /** Whether the node file `f` serves a read (or a write) of `nodeid` now. */
  private servesNode(f: OpenFile, nodeid: number, write: boolean): boolean {
    const n = this.nodes.get(nodeid);
    if (write && !(f.handle.onUpper && (f.handle.flags & sys.O.ACCMODE) === sys.O.RDWR)) return false;
    if (n.detached) return true; // nameless: only its descriptor reaches it
    return this.ov.holdsData(f.handle, this.path(nodeid)); // no copy-up or replacement since it was opened
  }

  /** Opens the node's file (for a write: copied up, read-write), one open per node at a time. */
  private async openNodeFile(nodeid: number, write: boolean): Promise<OpenFile> {
    for (let pending = this.nodeFileOpens.get(nodeid); pending !== undefined; pending = this.nodeFileOpens.get(nodeid)) {
      await pending.catch(() => undefined);
      const f = this.files.nodeFileOf(nodeid);
      if (f !== undefined && this.servesNode(f, nodeid, write)) return f;
    }
    const opening = (async () => {
      const kept = this.files.nodeFileOf(nodeid);
      if (this.nodes.get(nodeid).detached && kept !== undefined) {
        // A lower file that lost its name, written to: into a copy of its own (see namelessCopy).
        return this.files.setNodeFile(nodeid, await this.ov.namelessCopy(kept.handle), true);
      }
      const path = this.path(nodeid);
      const flags = write ? sys.O.RDWR : sys.O.RDONLY;
      return this.files.setNodeFile(nodeid, await this.files.withRoom(() => this.ov.open(path, flags)));
    })();
    this.nodeFileOpens.set(nodeid, opening);
    try {
      return await opening;
    } finally {
      this.nodeFileOpens.delete(nodeid);
    }
  }

  /**
   * Kernel opens: a regular file about to lose its last name may be open without our knowing (the
   * kernel did not ask): open it now, so that its reads (and, on the upper layer, its writes) still
   * reach it afterwards.
   */
  private keepReachable(nodeid: number | null, path: string): void {
    // (Not skipped when the node has open files of ours: a create's may be released any moment.)
    if (!this.kernelOpens || nodeid === null) return;
    const node = this.ov.tryResolve(path);
    if (node === null || node.type !== sys.S.IFREG) return;
    this.files.setNodeFile(nodeid, this.ov.openInPlace(path), true);
  }

  private register(handle: FileHandle, nodeid: number, passthrough = true): fuse.OpenOut {
    try {
      return this.files.register(handle, nodeid, passthrough);
    } catch (err) {
      // copied up under passthrough readers: the retry's lookup gets a new node id (open-files.ts)
      if ((err as { code?: string }).code === 'ESTALE') this.nodes.renew(nodeid);
      throw err;
    }
  }

  /** Gives served readers of a lower file that was copied up a handle on the upper file (open-files.ts). */
  private async adoptUpper(path: string, nodeid: number): Promise<void> {
    this.files.adoptUpper(nodeid, await this.ov.open(path, sys.O.RDONLY));
  }

  open(ctx: FuseContext, a: fuse.OpenIn): fuse.OpenOut | Promise<fuse.OpenOut> {
    if (this.kernelOpens) throw NO_OPEN;
    const path = this.path(a.nodeid);
    const flags = this.servedFlags(a.flags & ~(sys.O.CREAT | sys.O.EXCL));
    if (wantsWrite(flags) || (a.openFlags & fuse.OPEN_KILL_SUIDGID) !== 0) return this.openForWrite(ctx, a, path, flags);
    // A read-only open copies nothing up: answered synchronously (most opens are these).
    return this.register(this.unparked(a.nodeid, flags, path) ?? this.files.withRoomSync(() => this.ov.openRead(path, flags)), a.nodeid);
  }

  private async openForWrite(ctx: FuseContext, a: fuse.OpenIn, path: string, flags: number): Promise<fuse.OpenOut> {
    // O_TRUNC by a caller without CAP_FSETID
    if ((a.openFlags & fuse.OPEN_KILL_SUIDGID) !== 0) await this.killSetId(ctx, a.nodeid, true);
    const handle = this.unparked(a.nodeid, flags, path) ?? await this.files.withRoom(() => this.ov.open(path, flags));
    const passthrough = setid.mayPassThrough(this.shownMode(path).mode, wantsWrite(flags));
    const out = this.register(handle, a.nodeid, passthrough);
    if (!passthrough && (out.backingId ?? 0) > 0) {
      // The node was in passthrough already: its writes will not reach us (setid.mayPassThrough),
      // and may clear the bits in the upper file (attrTimeout): the kernel must ask from now on.
      await this.killSetId(ctx, a.nodeid, false);
      this.attrsChanged(a.nodeid);
    }
    // A write open copies up: served readers of the lower file must now read the upper one.
    if (wantsWrite(flags) && this.files.readsLowerOnly(a.nodeid)) await this.adoptUpper(path, a.nodeid);
    return out;
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

  async create(ctx: FuseContext, a: fuse.CreateIn): Promise<fuse.FuseEntry & fuse.OpenOut> {
    const path = joinPath(this.path(a.nodeid), a.name);
    const handle = await this.ov.create(path, a.mode & 0o7777, this.servedFlags(a.flags), this.creator(ctx, a.umask));
    await this.recordNew(path, ctx, a.mode);
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
    return f instanceof Promise ? f.then((file) => Buffer.from(this.readFrom(file, a))) : this.readFrom(f, a);
  }

  /**
   * A served read, made in place: a thread-pool round trip and a fresh buffer (its page faults)
   * cost more than the read (docs/benchmarks.md, Design figures), and the session writes a reply before it reads the next request, so
   * one buffer serves them all.
   */
  private readFrom(f: OpenFile, a: fuse.ReadIn): Uint8Array {
    const src = this.files.dataOf(f);
    if (this.readBuf.length < a.size) this.readBuf = Buffer.allocUnsafe(a.size);
    return this.readBuf.subarray(0, src.readSync(this.readBuf, 0, a.size, a.offset));
  }

  /**
   * Served writes are made in place, as reads are: into the page cache they take microseconds, and a
   * server in a process that uses its own mount through fs.promises would otherwise wait for a
   * thread-pool thread that is itself blocked in a write to the mount (libuv's pool has 4).
   */
  write(ctx: FuseContext, a: fuse.WriteIn): number | Promise<number> {
    const f = this.fileOf(a.nodeid, a.fh, true);
    if (f instanceof Promise || (a.writeFlags & fuse.WRITE_KILL_SUIDGID) !== 0) return this.writeAfterChecks(ctx, f, a);
    return writeAll(f.handle, a);
  }

  private async writeAfterChecks(ctx: FuseContext, file: OpenFile | Promise<OpenFile>, a: fuse.WriteIn): Promise<number> {
    const f = await file;
    // the kernel found the caller without CAP_FSETID
    if ((a.writeFlags & fuse.WRITE_KILL_SUIDGID) !== 0) await this.killSetId(ctx, a.nodeid, true);
    return writeAll(f.handle, a);
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
    const f = a.fh === 0 && this.kernelOpens ? this.files.nodeFileOf(a.nodeid) : this.files.get(a.fh);
    if (f !== undefined) await this.files.using(f, () => f.handle.sync(a.datasync));
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
    const batch = dir.read(a.offset, Math.max(16, Math.ceil(a.size / 24)));
    // Read to its end: the kernel keeps the listing itself (FOPEN_CACHE_DIR) and will not ask
    // again unless the directory changes, so ours need not stay (256 big listings are megabytes).
    if (batch.length === 0) this.listings.delete(a.nodeid);
    return batch.map(({ entry, nextOffset }) => ({ name: entry.name, ino: entry.ino, type: entry.type, off: nextOffset }));
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
    if (this.override !== null && a.name === this.override.xattr) return null;
    return this.ov.findXattr(this.path(a.nodeid), a.name);
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
      if ((mode & setid.S_ISGID) !== 0) await this.ov.setattr(path, { mode: mode & 0o7777 & ~setid.S_ISGID });
    }
  }

  async removexattr(_ctx: FuseContext, a: fuse.NameIn): Promise<void> {
    if (this.override !== null && a.name === this.override.xattr) throw Object.assign(new Error('private xattr'), { code: 'EPERM' });
    await this.ov.removexattr(this.path(a.nodeid), a.name);
  }

  async fallocate(ctx: FuseContext, a: fuse.FallocateIn): Promise<void> {
    const f = await this.fileOf(a.nodeid, a.fh, true);
    // The kernel sends no KILL_SUIDGID with FALLOCATE and COPY_FILE_RANGE: the caller is looked at here.
    await this.killSetId(ctx, a.nodeid, false);
    await this.files.using(f, () => f.handle.fallocate(a.mode, a.offset, a.length));
  }

  async lseek(_ctx: FuseContext, a: fuse.LseekIn): Promise<number> {
    return sys.lseek(this.files.dataOf(await this.fileOf(a.nodeid, a.fh, false)).fd, a.offset, a.whence);
  }

  async copyFileRange(ctx: FuseContext, a: fuse.CopyFileRangeIn): Promise<number> {
    const from = await this.fileOf(a.nodeid, a.fhIn, false);
    const to = await this.fileOf(a.nodeidOut, a.fhOut, true);
    await this.killSetId(ctx, a.nodeidOut, false);
    const src = this.files.dataOf(from).fd;
    return this.files.using(from, () => this.files.using(to, () => sys.copyFileRangeAsync(src, a.offIn, to.handle.fd, a.offOut, a.len, 0)));
  }

  /** Closes every open handle (at unmount). */
  closeAll(): void {
    this.files.closeAll();
    this.listings.clear();
  }
}
