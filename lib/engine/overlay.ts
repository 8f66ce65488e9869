import * as sys from '../sys';
import { Attr, getAttr } from './attr';
import { OverlayConfig, OverlayOptions, resolveConfig } from './config';
import { EngineStats, OverlayContext } from './context';
import { OverlayError } from './errors';
import { FileHandle, openForRead, wantsWrite } from './file';
import { lookupChild, lookupRoot, pathComponents } from './lookup';
import { OverlayNode, splitPath } from './node';
import { DirEntry, listDirectory } from './readdir';
import { getXattr, listXattrs } from './xattr';

/** An open directory: its listing, taken at open time, read at any offset. */
export class DirHandle {
  constructor(readonly node: OverlayNode, readonly entries: DirEntry[]) {}

  /** Entries from `offset` on (offset k = the k-th entry, as telldir/seekdir cookies), at most `max`. */
  read(offset: number, max = Infinity): { entry: DirEntry; nextOffset: number }[] {
    const out: { entry: DirEntry; nextOffset: number }[] = [];
    for (let i = Math.max(0, offset); i < this.entries.length && out.length < max; i++) {
      out.push({ entry: this.entries[i], nextOffset: i + 1 });
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
  readonly root: OverlayNode;
  private readonly ctx: OverlayContext;
  private closed = false;

  private constructor(config: OverlayConfig) {
    this.ctx = new OverlayContext(config);
    try {
      this.root = lookupRoot(this.ctx);
    } catch (err) {
      this.ctx.close();
      throw err;
    }
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
    if (typeof target !== 'string') return target;
    let node = this.root;
    for (const part of pathComponents(target)) {
      if (!node.isDir) throw new OverlayError('ENOTDIR', 'lookup', target);
      node = this.lookup(node, part);
    }
    return node;
  }

  /** The node at a merged path, or null when some component does not exist. */
  tryResolve(target: string): OverlayNode | null {
    try {
      return this.resolve(target);
    } catch (err) {
      if ((err as OverlayError).code === 'ENOENT') return null;
      throw err;
    }
  }

  parentOf(node: OverlayNode): OverlayNode {
    return node.path === '' ? this.root : this.resolve(splitPath(node.path).dir);
  }

  getattr(target: NodeOrPath): Attr {
    return getAttr(this.resolve(target));
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
    return new DirHandle(node, listDirectory(this.ctx, node, this.parentOf(node).ino));
  }

  /** Names of a directory without '.' and '..' (a convenience over opendir). */
  readdir(target: NodeOrPath): DirEntry[] {
    return this.opendir(target).entries.slice(2);
  }

  /** Opens a regular file; writing needs the write side (EROFS on a read-only overlay). */
  open(target: NodeOrPath, flags = sys.O.RDONLY): FileHandle {
    const node = this.resolve(target);
    if (wantsWrite(flags)) {
      if (this.readOnly) throw new OverlayError('EROFS', 'open', '/' + node.path);
      throw new OverlayError('EOPNOTSUPP', 'open', '/' + node.path, 'writing is not implemented yet');
    }
    return openForRead(this.ctx, node, flags);
  }

  /** Reads a whole regular file (a convenience for tools and tests). */
  readFile(target: NodeOrPath): Buffer {
    const handle = this.open(target);
    try {
      const size = getAttr(handle.node).size;
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

  listxattr(target: NodeOrPath): string[] {
    return listXattrs(this.ctx, this.resolve(target));
  }

  /** Filesystem figures of the upper layer, or of the top lower when read-only. */
  statfs(): sys.StatFs {
    return sys.fstatfs(this.ctx.stack.top.rootFd);
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
