/**
 * A tiny in-memory FuseOperations implementation for the FUSE end-to-end tests. Files named
 * 'boom*' make lookup throw a plain Error (→ EIO). Files added with addPassthrough() are backed by a
 * real file and opened in kernel passthrough mode (needs session.backingOpen).
 */
import * as fs from 'node:fs';
import type { FuseOperations, FuseAttr, FuseEntry, DirEntry, FuseContext } from '../../lib/fuse';
import type { FuseSession } from '../../lib/fuse';

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;

interface Node {
  ino: number; mode: number; uid: number; gid: number; nlink: number;
  data: Buffer; target?: string; children?: Map<string, number>; xattrs: Map<string, Buffer>;
  atime: [number, number]; mtime: [number, number]; ctime: [number, number];
  backingPath?: string;
}

function errno(code: string, n: number): Error {
  return Object.assign(new Error(code), { code, errno: n });
}
const ENOENT = () => errno('ENOENT', 2), EEXIST = () => errno('EEXIST', 17), ENOTEMPTY = () => errno('ENOTEMPTY', 39);
const ENODATA = () => errno('ENODATA', 61);

function now(): [number, number] {
  const t = Date.now();
  return [Math.floor(t / 1000), (t % 1000) * 1e6];
}

export class MemFs implements FuseOperations {
  nodes = new Map<number, Node>();
  next = 2;
  session?: FuseSession;
  /** READ requests per ino */
  reads = new Map<number, number>();
  private fds = new Map<number, { fd: number; backingId: number }>();
  private nextFh = 1;

  constructor() {
    this.nodes.set(1, this.mk(1, S_IFDIR | 0o755));
    this.nodes.get(1)!.children = new Map();
  }

  private mk(ino: number, mode: number): Node {
    const t = now();
    return { ino, mode, uid: 0, gid: 0, nlink: (mode & S_IFDIR) === S_IFDIR ? 2 : 1, data: Buffer.alloc(0),
      xattrs: new Map(), atime: t, mtime: t, ctime: t };
  }

  node(ino: number): Node {
    const n = this.nodes.get(ino);
    if (!n) throw ENOENT();
    return n;
  }

  attr(n: Node): FuseAttr {
    const size = n.backingPath ? fs.statSync(n.backingPath).size : n.target !== undefined ? Buffer.byteLength(n.target) : n.data.length;
    return { ino: n.ino, size, blocks: Math.ceil(size / 512), mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid,
      rdev: 0, blksize: 4096, atimeSec: n.atime[0], atimeNsec: n.atime[1], mtimeSec: n.mtime[0], mtimeNsec: n.mtime[1],
      ctimeSec: n.ctime[0], ctimeNsec: n.ctime[1] };
  }

  entry(n: Node): FuseEntry {
    return { nodeid: n.ino, attr: this.attr(n), entryTimeout: 0, attrTimeout: 0 };
  }

  /** add a node under parent (test setup) */
  add(parent: number, name: string, mode: number, opts: { data?: Buffer; target?: string } = {}): Node {
    const p = this.node(parent);
    if (p.children!.has(name)) throw EEXIST();
    const n = this.mk(this.next++, mode);
    if ((mode & 0o170000) === S_IFDIR) { n.children = new Map(); p.nlink++; }
    if (opts.data) n.data = Buffer.from(opts.data);
    if (opts.target !== undefined) n.target = opts.target;
    this.nodes.set(n.ino, n);
    p.children!.set(name, n.ino);
    return n;
  }

  addPassthrough(parent: number, name: string, backingPath: string): Node {
    const n = this.add(parent, name, S_IFREG | 0o644);
    n.backingPath = backingPath;
    return n;
  }

  lookup(_c: FuseContext, a: { nodeid: number; name: string }): FuseEntry {
    if (a.name.startsWith('boom')) throw new Error('handler bug (test)');
    const ino = this.node(a.nodeid).children?.get(a.name);
    if (ino === undefined) throw ENOENT();
    return this.entry(this.node(ino));
  }

  getattr(_c: FuseContext, a: { nodeid: number }) {
    return { attr: this.attr(this.node(a.nodeid)), attrTimeout: 0 };
  }

  async setattr(_c: FuseContext, a: import('../../lib/fuse').SetattrIn) {
    const n = this.node(a.nodeid);
    if (a.mode !== undefined) n.mode = (n.mode & 0o170000) | (a.mode & 0o7777);
    if (a.uid !== undefined) n.uid = a.uid;
    if (a.gid !== undefined) n.gid = a.gid;
    if (a.size !== undefined) {
      const d = Buffer.alloc(a.size);
      n.data.copy(d, 0, 0, Math.min(a.size, n.data.length));
      n.data = d;
      n.mtime = now();
    }
    if (a.atime) n.atime = a.atime === 'now' ? now() : [a.atime.sec, a.atime.nsec];
    if (a.mtime) n.mtime = a.mtime === 'now' ? now() : [a.mtime.sec, a.mtime.nsec];
    n.ctime = now();
    return { attr: this.attr(n), attrTimeout: 0 };
  }

  readlink(_c: FuseContext, a: { nodeid: number }) { return this.node(a.nodeid).target ?? ''; }

  symlink(_c: FuseContext, a: { nodeid: number; name: string; target: string }) {
    return this.entry(this.add(a.nodeid, a.name, S_IFLNK | 0o777, { target: a.target }));
  }
  mkdir(_c: FuseContext, a: { nodeid: number; name: string; mode: number; umask: number }) {
    return this.entry(this.add(a.nodeid, a.name, S_IFDIR | (a.mode & ~a.umask & 0o7777)));
  }
  mknod(_c: FuseContext, a: { nodeid: number; name: string; mode: number; umask: number }) {
    return this.entry(this.add(a.nodeid, a.name, (a.mode & 0o170000) | (a.mode & ~a.umask & 0o7777)));
  }
  unlink(_c: FuseContext, a: { nodeid: number; name: string }) {
    const p = this.node(a.nodeid);
    const ino = p.children!.get(a.name);
    if (ino === undefined) throw ENOENT();
    p.children!.delete(a.name);
    this.node(ino).nlink--;
  }
  rmdir(_c: FuseContext, a: { nodeid: number; name: string }) {
    const p = this.node(a.nodeid);
    const ino = p.children!.get(a.name);
    if (ino === undefined) throw ENOENT();
    if (this.node(ino).children!.size) throw ENOTEMPTY();
    p.children!.delete(a.name);
    p.nlink--;
  }
  rename(_c: FuseContext, a: { nodeid: number; name: string; newParent: number; newName: string; flags: number }) {
    const p = this.node(a.nodeid), q = this.node(a.newParent);
    const ino = p.children!.get(a.name);
    if (ino === undefined) throw ENOENT();
    if (a.flags & 1 && q.children!.has(a.newName)) throw EEXIST();
    p.children!.delete(a.name);
    q.children!.set(a.newName, ino);
  }
  link(_c: FuseContext, a: { nodeid: number; oldNodeid: number; newName: string }) {
    const n = this.node(a.oldNodeid);
    const p = this.node(a.nodeid);
    if (p.children!.has(a.newName)) throw EEXIST();
    p.children!.set(a.newName, n.ino);
    n.nlink++;
    return this.entry(n);
  }
  open(_c: FuseContext, a: { nodeid: number; flags: number }) {
    const n = this.node(a.nodeid);
    const fh = this.nextFh++;
    if (n.backingPath && this.session) {
      const fd = fs.openSync(n.backingPath, a.flags & 3);
      const backingId = this.session.backingOpen(fd);
      this.fds.set(fh, { fd, backingId });
      return { fh, backingId };
    }
    if (a.flags & 0o1000) n.data = Buffer.alloc(0); // O_TRUNC (ATOMIC_O_TRUNC)
    return { fh };
  }
  create(_c: FuseContext, a: { nodeid: number; name: string; mode: number; umask: number }) {
    const n = this.add(a.nodeid, a.name, S_IFREG | (a.mode & ~a.umask & 0o7777));
    return { ...this.entry(n), fh: this.nextFh++ };
  }
  read(_c: FuseContext, a: { nodeid: number; offset: number; size: number }) {
    this.reads.set(a.nodeid, (this.reads.get(a.nodeid) ?? 0) + 1);
    const n = this.node(a.nodeid);
    if (n.backingPath) {
      const b = Buffer.alloc(a.size);
      const fd = fs.openSync(n.backingPath, 'r');
      try { return b.subarray(0, fs.readSync(fd, b, 0, a.size, a.offset)); } finally { fs.closeSync(fd); }
    }
    return n.data.subarray(a.offset, a.offset + a.size);
  }
  write(_c: FuseContext, a: { nodeid: number; offset: number; data: Buffer }) {
    const n = this.node(a.nodeid);
    const end = a.offset + a.data.length;
    if (end > n.data.length) {
      const d = Buffer.alloc(end);
      n.data.copy(d);
      n.data = d;
    }
    a.data.copy(n.data, a.offset);
    n.mtime = now();
    return a.data.length;
  }
  release(_c: FuseContext, a: { fh: number }) {
    const f = this.fds.get(a.fh);
    if (f) {
      this.fds.delete(a.fh);
      this.session?.backingClose(f.backingId);
      fs.closeSync(f.fd);
    }
  }
  flush() { /* nothing buffered */ }
  readdir(_c: FuseContext, a: { nodeid: number; offset: number }): DirEntry[] {
    const n = this.node(a.nodeid);
    const all: DirEntry[] = [{ name: '.', ino: n.ino, type: 4, off: 1 }, { name: '..', ino: 1, type: 4, off: 2 }];
    let i = 3;
    for (const [name, ino] of n.children!) {
      const c = this.node(ino);
      all.push({ name, ino, type: (c.mode & 0o170000) >> 12, off: i++ });
    }
    return all.slice(a.offset);
  }
  statfs() {
    return { blocks: 1000, bfree: 500, bavail: 500, files: 100, ffree: 50, bsize: 4096, namelen: 255, frsize: 4096 };
  }
  getxattr(_c: FuseContext, a: { nodeid: number; name: string }) {
    const v = this.node(a.nodeid).xattrs.get(a.name);
    if (!v) throw ENODATA();
    return v;
  }
  setxattr(_c: FuseContext, a: { nodeid: number; name: string; value: Buffer }) {
    this.node(a.nodeid).xattrs.set(a.name, Buffer.from(a.value));
  }
  listxattr(_c: FuseContext, a: { nodeid: number }) { return [...this.node(a.nodeid).xattrs.keys()]; }
  removexattr(_c: FuseContext, a: { nodeid: number; name: string }) {
    if (!this.node(a.nodeid).xattrs.delete(a.name)) throw ENODATA();
  }
}
