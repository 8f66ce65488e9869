import * as sys from '../sys';
import { ACL_ACCESS } from './acl';
import { Attr, getAttr } from './attr';
import { OverlayConfig, OverlayOptions, resolveConfig } from './config';
import { EngineStats, OverlayContext } from './context';
import { OverlayError, hasCode } from './errors';
import { FileHandle, openForRead, openUpper, wantsWrite } from './file';
import { copyUp } from './copy-up';
import { copyData } from './copy-data';
import type { Caller } from './creds';
import { processCaller } from './creds';
import { createObject, link, remove, rename, RenameFlags } from './dir-ops';
import { copyUpForTruncate, removeXattr, setAttr, SetAttr, setXattr, TimeSpec } from './inode-ops';
import { knownAt, lookupChild, lookupRoot, pathComponents, refreshNode } from './lookup';
import { OverlayNode, splitPath } from './node';
import { DirEntry, listDirectory } from './readdir';
import { findXattr, getXattr, listXattrs } from './xattr';

/** An open directory: its listing, taken at open time, read at any offset. */
export class DirHandle {
  private listing: DirEntry[] | null = null;

  constructor(readonly node: OverlayNode, private readonly list: () => DirEntry[]) {}

  /** The listing, taken at the first read (an opendir the kernel answers from its cache costs nothing). */
  get entries(): DirEntry[] {
    this.listing ??= this.list();
    return this.listing;
  }

  /** Entries from `offset` on (offset k = the k-th entry, as telldir/seekdir cookies), at most `max`. */
  read(offset: number, max = Infinity): { entry: DirEntry; nextOffset: number }[] {
    const entries = this.entries;
    const out: { entry: DirEntry; nextOffset: number }[] = [];
    for (let i = Math.max(0, offset); i < entries.length && out.length < max; i++) {
      out.push({ entry: entries[i], nextOffset: i + 1 });
    }
    return out;
  }
}

type NodeOrPath = OverlayNode | string;

/**
 * The merged view of a layer stack. Nodes are addressed by merged path ('/a/b' or 'a/b') or by the
 * OverlayNode a lookup returned. Paths are resolved component by component, never following
 * symlinks (as lstat does); a symlink in the middle of a path gives ENOTDIR.
 */
export class Overlay {
  private readonly ctx: OverlayContext;
  private closed = false;

  private constructor(config: OverlayConfig) {
    this.ctx = new OverlayContext(config);
    try {
      lookupRoot(this.ctx);
    } catch (err) {
      this.ctx.close();
      throw err;
    }
  }

  /** Changes with every change of the merged tree: a node looked up under the same value is current. */
  get generation(): number {
    return this.ctx.generation;
  }

  get root(): OverlayNode {
    return lookupRoot(this.ctx);
  }

  /** 'copy-up' events: { path, bytes, method, metadataOnly, ms }. */
  get events(): import('node:events').EventEmitter {
    return this.ctx.events;
  }

  /** Validates options, opens every layer, and returns the merged view. */
  static open(options: OverlayOptions): Overlay {
    return new Overlay(resolveConfig(options));
  }

  get config(): OverlayConfig {
    return this.ctx.config;
  }

  get readOnly(): boolean {
    return this.ctx.stack.upper === null;
  }

  get stats(): Readonly<EngineStats> {
    return this.ctx.stats;
  }

  cacheSizes(): ReturnType<OverlayContext['cacheSizes']> {
    return this.ctx.cacheSizes();
  }

  /**
   * Keeps `node` the one its name leads to while held (changes reach it in place): the FUSE side
   * holds the directories the kernel knows. `release` ends one hold.
   */
  hold(node: OverlayNode): void {
    // Nodes the LRU had let go (ancestors included) are brought up to date, the top one first.
    for (const n of this.ctx.hold(node).reverse()) refreshNode(this.ctx, n);
  }

  release(node: OverlayNode): void {
    this.ctx.release(node);
  }

  /** The child `name` of directory `parent`, or null when the merged view has none. */
  tryLookup(parent: OverlayNode, name: string): OverlayNode | null {
    this.checkOpen();
    if (name === '.') return parent;
    if (name === '..') return this.parentOf(parent);
    return lookupChild(this.ctx, parent, name);
  }

  lookup(parent: OverlayNode, name: string): OverlayNode {
    const node = this.tryLookup(parent, name);
    if (node === null) throw new OverlayError('ENOENT', 'lookup', '/' + (parent.path === '' ? name : `${parent.path}/${name}`));
    return node;
  }

  /** The node at a merged path (without following symlinks). */
  resolve(target: NodeOrPath): OverlayNode {
    return typeof target === 'string' ? this.walk(target, false)! : target;
  }

  /** The node at a merged path, or null when some component does not exist. */
  tryResolve(target: string): OverlayNode | null {
    return this.walk(target, true);
  }

  private walk(target: string, missingIsNull: boolean): OverlayNode | null {
    let node = this.root;
    // A path in the form the walk records (no leading slash): found again without walking.
    const known = knownAt(this.ctx, target);
    if (known !== undefined) return known;
    const parts = pathComponents(target);
    for (const part of parts) {
      if (!node.isDir) throw new OverlayError('ENOTDIR', 'lookup', target);
      const next = this.tryLookup(node, part);
      if (next === null) {
        if (missingIsNull) return null;
        throw new OverlayError('ENOENT', 'lookup', '/' + (node.path === '' ? part : `${node.path}/${part}`));
      }
      node = next;
    }
    if (parts.length > 1) this.ctx.byPath.set(node.path, node);
    return node;
  }

  parentOf(node: OverlayNode): OverlayNode {
    return node.parent ?? this.root;
  }

  getattr(target: NodeOrPath): Attr {
    return getAttr(this.ctx, this.resolve(target));
  }

  readlink(target: NodeOrPath): string {
    const node = this.resolve(target);
    if (node.type !== sys.S.IFLNK) throw new OverlayError('EINVAL', 'readlink', '/' + node.path);
    const { layer, path } = node.top;
    const { dir, name } = splitPath(path);
    return sys.readlinkat(layer.dirFd(dir), name);
  }

  opendir(target: NodeOrPath): DirHandle {
    const node = this.resolve(target);
    if (!node.isDir) throw new OverlayError('ENOTDIR', 'opendir', '/' + node.path);
    return new DirHandle(node, () => listDirectory(this.ctx, node, this.parentOf(node).ino));
  }

  /** Names of a directory without '.' and '..' (a convenience over opendir). */
  readdir(target: NodeOrPath): DirEntry[] {
    return this.opendir(target).entries.slice(2);
  }

  /** Opens a regular file for reading only (no copy-up, never blocks on I/O beyond open). */
  openRead(target: NodeOrPath, flags = sys.O.RDONLY): FileHandle {
    const node = this.resolve(target);
    if (wantsWrite(flags)) throw new OverlayError('EINVAL', 'open', '/' + node.path, 'openRead takes read-only flags');
    return openForRead(this.ctx, node, flags);
  }

  /**
   * Opens a regular file. Write access or O_TRUNC copies it up first (data, or with O_TRUNC only
   * metadata); EROFS on a read-only overlay. With O_CREAT a missing file is created for `caller`.
   */
  async open(target: string, flags = sys.O.RDONLY, mode = 0o644, caller?: Caller): Promise<FileHandle> {
    if ((flags & sys.O.CREAT) !== 0) {
      const existing = this.tryResolve(target);
      if (existing === null) return this.create(target, mode, flags, caller ?? processCaller());
      if ((flags & sys.O.EXCL) !== 0) throw new OverlayError('EEXIST', 'open', '/' + existing.path);
    }
    const node = this.resolve(target);
    if (!wantsWrite(flags)) return openForRead(this.ctx, node, flags);
    if (this.readOnly) throw new OverlayError('EROFS', 'open', '/' + node.path);
    if (node.isDir) throw new OverlayError('EISDIR', 'open', '/' + node.path);
    if (node.type !== sys.S.IFREG) return openForRead(this.ctx, node, flags); // devices, fifos: ENXIO there
    const up = (flags & sys.O.TRUNC) !== 0 ? await copyUpForTruncate(this.ctx, node.path, 0) : await copyUp(this.ctx, node.path, true);
    return openUpper(this.ctx, up, flags);
  }

  /**
   * Opens the regular file at `target` where its data lies, without a copy-up: read-write when
   * that is the upper layer (read-only if writing it is refused), read-only in a lower one.
   */
  openInPlace(target: string): FileHandle {
    const node = this.resolve(target);
    if (node.type === sys.S.IFREG && node.top.layer.isUpper && node.dataEntry.layer.isUpper) {
      try {
        return openUpper(this.ctx, node, sys.O.RDWR);
      } catch (err) {
        // not ours to write (an unprivileged server, a 0444 file): reading is what is asked first
        if (!hasCode(err, 'EACCES') && !hasCode(err, 'EPERM') && !hasCode(err, 'EROFS')) throw err;
      }
    }
    return openForRead(this.ctx, node, sys.O.RDONLY);
  }

  /**
   * A nameless read-write copy of `handle`'s file in the work directory: for a file that lost its
   * last name while open only to the kernel (no copy-up at that open), written to afterwards. The
   * kernel overlay would have copied it up at the open and the unlink removed the name; either way
   * the writes reach no name and go with the last descriptor.
   */
  async namelessCopy(handle: FileHandle): Promise<FileHandle> {
    const work = this.ctx.work;
    if (work === null) throw new OverlayError('EROFS', 'write', '/' + handle.node.path);
    let fd: number;
    if (work.tmpfile) fd = sys.openat(work.fd, '.', sys.O.TMPFILE | sys.O.RDWR | sys.O.CLOEXEC, 0o600);
    else {
      const name = work.tempName();
      fd = sys.openat(work.fd, name, sys.O.CREAT | sys.O.EXCL | sys.O.RDWR | sys.O.CLOEXEC | sys.O.NOFOLLOW, 0o600);
      sys.unlinkat(work.fd, name);
    }
    try {
      const src = handle.stat();
      await copyData(handle.fd, fd, src.size, src.dev, sys.fstat(fd).dev);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    return new FileHandle(handle.node, fd, sys.O.RDWR, true);
  }

  /** Whether `handle`'s file still holds the data of the merged file at `target` (no copy-up or replacement since it was opened). */
  holdsData(handle: FileHandle, target: string): boolean {
    const node = this.tryResolve(target);
    if (node === null || node.type !== sys.S.IFREG) return false;
    const now = node.dataEntry, then = handle.opened;
    return now.layer === then.layer && now.stat.ino === then.stat.ino && now.stat.dev === then.stat.dev;
  }

  /** Creates a regular file (O_EXCL semantics) and returns it open with `flags`' access mode. */
  async create(target: string, mode: number, flags = sys.O.RDWR, caller: Caller = processCaller()): Promise<FileHandle> {
    const { parent, name } = this.parentAndName(target);
    const { node, fd } = await createObject(this.ctx, parent, name, { kind: 'file', mode, flags }, caller);
    return new FileHandle(node, fd, flags, true, node.top.stat); // the top stat is the new file's fstat
  }

  async mkdir(target: string, mode = 0o755, caller: Caller = processCaller()): Promise<OverlayNode> {
    const { parent, name } = this.parentAndName(target);
    return (await createObject(this.ctx, parent, name, { kind: 'dir', mode }, caller)).node;
  }

  async symlink(linkTarget: string, target: string, caller: Caller = processCaller()): Promise<OverlayNode> {
    const { parent, name } = this.parentAndName(target);
    return (await createObject(this.ctx, parent, name, { kind: 'symlink', target: linkTarget }, caller)).node;
  }

  /** mknod: fifos, sockets, character and block devices (`mode` includes the type bits). */
  async mknod(target: string, mode: number, rdev = 0, caller: Caller = processCaller()): Promise<OverlayNode> {
    const { parent, name } = this.parentAndName(target);
    const type = mode & sys.S.IFMT;
    if (type === sys.S.IFREG || type === 0) {
      const handle = await this.create(target, mode & 0o7777, sys.O.RDONLY, caller);
      handle.close();
      return handle.node;
    }
    if (type === sys.S.IFDIR || type === sys.S.IFLNK) throw new OverlayError('EINVAL', 'mknod', '/' + target);
    return (await createObject(this.ctx, parent, name, { kind: 'node', mode, rdev }, caller)).node;
  }

  async link(existing: string, target: string): Promise<OverlayNode> {
    const { parent, name } = this.parentAndName(target);
    return link(this.ctx, this.resolve(existing).path, parent, name);
  }

  async unlink(target: string): Promise<void> {
    const { parent, name } = this.parentAndName(target);
    await remove(this.ctx, parent, name, false);
  }

  async rmdir(target: string): Promise<void> {
    const { parent, name } = this.parentAndName(target);
    await remove(this.ctx, parent, name, true);
  }

  async rename(from: string, to: string, flags: RenameFlags = {}): Promise<void> {
    const a = this.parentAndName(from);
    const b = this.parentAndName(to);
    await rename(this.ctx, a.parent, a.name, b.parent, b.name, flags);
  }

  async setattr(target: string, attr: SetAttr): Promise<Attr> {
    if (this.readOnly) throw new OverlayError('EROFS', 'setattr', '/' + this.resolve(target).path);
    const node = this.resolve(target);
    await setAttr(this.ctx, node.path, attr);
    return this.getattr(node.path);
  }

  chmod(target: string, mode: number): Promise<Attr> {
    return this.setattr(target, { mode });
  }

  chown(target: string, uid: number, gid: number): Promise<Attr> {
    return this.setattr(target, { uid, gid });
  }

  truncate(target: string, size: number): Promise<Attr> {
    return this.setattr(target, { size });
  }

  utimes(target: string, atime: TimeSpec | undefined, mtime: TimeSpec | undefined): Promise<Attr> {
    return this.setattr(target, { atime, mtime });
  }

  async setxattr(target: string, name: string, value: Buffer, flags = 0): Promise<void> {
    const node = this.resolve(target);
    if (this.readOnly) throw new OverlayError('EROFS', 'setxattr', '/' + node.path);
    await setXattr(this.ctx, node.path, name, value, flags);
  }

  async removexattr(target: string, name: string): Promise<void> {
    const node = this.resolve(target);
    if (this.readOnly) throw new OverlayError('EROFS', 'removexattr', '/' + node.path);
    await removeXattr(this.ctx, node.path, name);
  }

  /** Writes a whole file (created for `caller` if missing), like fs.writeFile. */
  async writeFile(target: string, data: string | Uint8Array, mode = 0o644, caller: Caller = processCaller()): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const h = await this.open(target, sys.O.WRONLY | sys.O.CREAT | sys.O.TRUNC, mode, caller);
    try {
      let done = 0;
      while (done < buf.length) done += h.writeSync(buf, done, buf.length - done, done);
    } finally {
      h.close();
    }
  }

  /** Reads a whole regular file (a convenience for tools and tests). */
  readFile(target: NodeOrPath): Buffer {
    const handle = this.openRead(target);
    try {
      const size = handle.stat().size;
      const buf = Buffer.alloc(size);
      let done = 0;
      while (done < size) {
        const n = handle.readSync(buf, done, size - done, done);
        if (n === 0) break;
        done += n;
      }
      return done === size ? buf : buf.subarray(0, done);
    } finally {
      handle.close();
    }
  }

  getxattr(target: NodeOrPath, name: string): Buffer {
    return getXattr(this.ctx, this.resolve(target), name);
  }

  /** getxattr, with null when the object has no such xattr. */
  findXattr(target: NodeOrPath, name: string): Buffer | null {
    return findXattr(this.ctx, this.resolve(target), name);
  }

  listxattr(target: NodeOrPath): string[] {
    return listXattrs(this.ctx, this.resolve(target));
  }

  /** Splits a merged path into its parent's merged path and final name (the root has none). */
  private parentAndName(target: string): { parent: string; name: string } {
    this.checkOpen();
    const parts = pathComponents(target);
    if (parts.length === 0) throw new OverlayError('EBUSY', 'open', '/', 'the root has no name');
    const name = parts.pop()!;
    return { parent: parts.join('/'), name };
  }

  /** Filesystem figures of the upper layer, or of the top lower when read-only. */
  statfs(): sys.StatFs {
    return sys.fstatfs(this.ctx.stack.top.rootFd);
  }

  /** Whether the top layer (the upper, where new objects go) stores POSIX ACLs. */
  supportsPosixAcl(): boolean {
    try {
      sys.getxattrat(this.ctx.stack.top.rootFd, '', ACL_ACCESS);
      return true;
    } catch (err) {
      if (hasCode(err, 'EOPNOTSUPP', 'ENOTSUP')) return false;
      throw err;
    }
  }

  /**
   * fsync of a merged directory's upper directory (its names are on disk, as ovl_dir_fsync does);
   * nothing to do for a directory only in lower layers, or when volatile.
   */
  async syncDir(target: NodeOrPath): Promise<void> {
    const node = this.resolve(target);
    const upper = this.ctx.stack.upper;
    if (upper === null || this.ctx.config.volatile || !node.isDir || node.top.layer !== upper) return;
    // The cached directory fds are O_PATH (fsync refuses them): open it for reading through one.
    const fd = sys.openat(upper.dirFd(node.top.path), '.', sys.O.RDONLY | sys.O.DIRECTORY | sys.O.CLOEXEC);
    try {
      await sys.fsyncAsync(fd);
    } finally {
      sys.close(fd);
    }
  }

  /** syncfs of the upper layer: everything written is on disk (skipped when volatile). */
  async sync(): Promise<void> {
    const upper = this.ctx.stack.upper;
    if (upper === null || this.ctx.config.volatile || this.closed) return;
    // syncfs needs a real descriptor, not the O_PATH one we keep.
    const fd = sys.openat(upper.rootFd, '.', sys.O.RDONLY | sys.O.DIRECTORY);
    try {
      await sys.syncfsAsync(fd);
    } finally {
      sys.close(fd);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new OverlayError('EBADF', 'lookup', '/', 'overlay is closed');
  }
}

/** Opens a layer stack as one merged view (the engine alone, no FUSE). */
export function openOverlay(options: OverlayOptions): Overlay {
  return Overlay.open(options);
}
