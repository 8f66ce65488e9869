/**
 * Writes tar entries into a layer directory, safely: every object is made with *at calls on
 * directory fds opened beneath the layer root without following any symlink (openBeneath), so an
 * entry written through a symlink the tar made, a `..` component or an absolute name cannot reach
 * outside. OCI whiteouts become the overlay form (a 0/0 character device; `overlay.opaque=y` on
 * the directory), which kernel overlayfs reads and layerfs's engine reads with the fewest calls.
 * Later entries replace earlier ones of the same name (a directory over a directory merges).
 */
import * as fs from 'node:fs';
import * as sys from '../../sys';
import { AT, O, S } from '../../sys';
import { badTar } from './errors';
import type { TarEntry, TarTime } from './tar-reader';

export const OCI_WHITEOUT_PREFIX = '.wh.';
export const OCI_OPAQUE = '.wh..wh..opq';

export interface ApplyOptions {
  /** `user.overlay.opaque` instead of `trusted.overlay.opaque` (as an overlay mounted with userxattr reads) */
  userxattr?: boolean;
  /**
   * The extracted layers below this one, top first. A parent directory the tar leaves out then
   * takes the metadata of the same directory below (so the merged view does not change it).
   */
  lower?: string[];
}

/** Private overlay xattrs in a tar are dropped: they would steer the overlay (redirects, metacopy). */
function isOverlayPrivate(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

/**
 * The components of a layer path, checked: no absolute names, no `..`; `.` and empty components
 * dropped. [] is the layer root.
 */
export function layerPath(name: string, what: string, entry: string): string[] {
  if (name.startsWith('/')) throw badTar(`${what} is an absolute name`, entry);
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw badTar(`${what} has a ".." component`, entry);
    parts.push(c);
  }
  return parts;
}

const DIR_CACHE = 256;

interface DirTimes { atime: TarTime; mtime: TarTime }

export class LayerApplier {
  private readonly root: number;
  private readonly dirs = new Map<string, number>();
  /** directory times, set last (making children changes them) */
  private readonly dirTimes = new Map<string, DirTimes>();
  private readonly opaqueName: string;
  private readonly chown: boolean;
  private closed = false;
  /** the time given to parents the tar leaves out: the mtime of the entry that needs them */
  private implicitTime: TarTime = { sec: 0, nsec: 0 };

  constructor(dest: string, opts: ApplyOptions = {}) {
    this.root = sys.openat(AT.FDCWD, dest, O.PATH | O.DIRECTORY);
    this.opaqueName = (opts.userxattr ? 'user.' : 'trusted.') + 'overlay.opaque';
    this.chown = process.geteuid?.() === 0;
    this.lower = opts.lower ?? [];
  }

  private readonly lower: string[];
  private lowerFds: number[] | null = null;

  /** Gives an implicit parent the metadata of the top directory below with its path, if any. */
  private copyFromBelow(parent: number, base: string, rel: string): void {
    if (this.lowerFds === null) this.lowerFds = this.lower.map((l) => sys.openat(AT.FDCWD, l, O.PATH | O.DIRECTORY));
    for (const lfd of this.lowerFds) {
      let fd: number;
      try {
        fd = sys.openBeneath(lfd, rel, O.RDONLY | O.NOFOLLOW);
      } catch (err) {
        const code = (err as sys.SysError).code;
        if (code === 'ENOENT') continue;
        return; // a symlink, a file on the way or no access: nothing to copy
      }
      try {
        const st = sys.fstat(fd);
        if ((st.mode & S.IFMT) !== S.IFDIR) return; // a file or whiteout hides everything below
        if (this.chown) sys.fchownat(parent, base, st.uid, st.gid, AT.SYMLINK_NOFOLLOW);
        sys.fchmodat(parent, base, st.mode & 0o7777, 0);
        for (const name of sys.flistxattr(fd)) {
          if (isOverlayPrivate(name)) continue;
          const v = sys.fgetxattr(fd, name);
          if (v !== null) sys.setxattrat(parent, base, name, v);
        }
        this.dirTimes.set(rel, { atime: { sec: st.atimeSec, nsec: st.atimeNsec }, mtime: { sec: st.mtimeSec, nsec: st.mtimeNsec } });
      } finally {
        sys.close(fd);
      }
      return;
    }
  }

  /** An O_PATH fd of directory `rel` (components joined by '/'), made (0755) when missing. */
  private dir(parts: string[], entry: string): number {
    if (parts.length === 0) return this.root;
    const rel = parts.join('/');
    const hit = this.dirs.get(rel);
    if (hit !== undefined) return hit;
    let fd: number;
    try {
      fd = sys.openBeneath(this.root, rel, O.PATH | O.DIRECTORY);
    } catch (err) {
      const code = (err as sys.SysError).code;
      if (code === 'ENOENT') {
        const parent = this.dir(parts.slice(0, -1), entry);
        const base = parts[parts.length - 1];
        try {
          sys.mkdirat(parent, base, 0o755);
          // a parent the tar left out: 0755, root's (as made), and a time from the tar, not the clock
          this.dirTimes.set(rel, { atime: this.implicitTime, mtime: this.implicitTime });
          if (this.lower.length > 0) this.copyFromBelow(parent, base, rel);
        } catch (e) {
          if ((e as sys.SysError).code !== 'EEXIST') throw e;
        }
        fd = this.openChildDir(parent, base, rel, entry);
      } else throw this.pathError(err, rel, entry);
    }
    this.remember(rel, fd);
    return fd;
  }

  private openChildDir(parent: number, base: string, rel: string, entry: string): number {
    try {
      return sys.openat(parent, base, O.PATH | O.DIRECTORY | O.NOFOLLOW);
    } catch (err) {
      throw this.pathError(err, rel, entry);
    }
  }

  private pathError(err: unknown, rel: string, entry: string): Error {
    switch ((err as sys.SysError).code) {
      case 'ELOOP': return badTar(`written through a symlink (${JSON.stringify(rel)} is a symlink in this layer)`, entry);
      case 'ENOTDIR': return badTar(`a parent (${JSON.stringify(rel)}) is not a directory`, entry);
      case 'EXDEV': return badTar('escapes the layer', entry);
      default: return err as Error;
    }
  }

  private remember(rel: string, fd: number): void {
    if (this.dirs.size >= DIR_CACHE) {
      const [oldRel, oldFd] = this.dirs.entries().next().value as [string, number];
      this.dirs.delete(oldRel);
      sys.close(oldFd);
    }
    this.dirs.set(rel, fd);
  }

  /** Forgets cached fds and pending times at or below `rel` (after a directory there went away). */
  private forget(rel: string): void {
    const prefix = rel + '/';
    for (const [k, fd] of [...this.dirs]) {
      if (k === rel || k.startsWith(prefix)) {
        this.dirs.delete(k);
        sys.close(fd);
      }
    }
    for (const k of [...this.dirTimes.keys()]) if (k === rel || k.startsWith(prefix)) this.dirTimes.delete(k);
  }

  /** Removes `base` in `parent` (a directory with everything in it). */
  private remove(parent: number, base: string, st: sys.Stat, rel: string): void {
    if ((st.mode & S.IFMT) !== S.IFDIR) {
      sys.unlinkat(parent, base, 0);
      return;
    }
    this.forget(rel);
    const fd = sys.openat(parent, base, O.RDONLY | O.DIRECTORY | O.NOFOLLOW);
    try {
      const list = sys.readdir(fd);
      for (const name of list.names) this.remove(fd, name, sys.statx(fd, name), rel + '/' + name);
    } finally {
      sys.close(fd);
    }
    sys.unlinkat(parent, base, AT.REMOVEDIR);
  }

  private setXattrs(dirfd: number, base: string, e: TarEntry, fd = -1): void {
    for (const [name, value] of e.xattrs) {
      if (isOverlayPrivate(name)) continue;
      try {
        if (fd >= 0) sys.fsetxattr(fd, name, value);
        else sys.setxattrat(dirfd, base, name, value);
      } catch (err) {
        // Linux has no user.* xattrs on symlinks and devices; a tar from elsewhere may carry them.
        if (e.type !== 'file' && e.type !== 'dir' && name.startsWith('user.') && (err as sys.SysError).code === 'EPERM') continue;
        throw err;
      }
    }
  }

  /** Applies one entry; a regular file's body is read here. */
  async apply(e: TarEntry): Promise<void> {
    this.implicitTime = e.mtime;
    const parts = layerPath(e.name, 'the name', e.name);
    if (parts.length === 0) {
      if (e.type !== 'dir') throw badTar('the layer root is not a directory', e.name);
      this.meta(this.root, '', e, AT.EMPTY_PATH);
      this.dirTimes.set('', { atime: e.atime ?? e.mtime, mtime: e.mtime });
      return;
    }
    const base = parts[parts.length - 1];
    const parentParts = parts.slice(0, -1);
    const parent = this.dir(parentParts, e.name);
    const rel = parts.join('/');

    if (base === OCI_OPAQUE) {
      // The parent hides everything below it; the marker itself is not kept.
      // (the kernel ignores opaque on a layer's root; so does the engine)
      if (parentParts.length > 0) {
        const gp = this.dir(parentParts.slice(0, -1), e.name);
        sys.setxattrat(gp, parentParts[parentParts.length - 1], this.opaqueName, Buffer.from('y'));
      }
      return;
    }
    if (base.startsWith(OCI_WHITEOUT_PREFIX + OCI_WHITEOUT_PREFIX)) {
      // other `.wh..wh.` names are aufs's own metadata (.wh..wh.plnk, .wh..wh.aufs): not files, not whiteouts
      return;
    }
    if (base.startsWith(OCI_WHITEOUT_PREFIX)) {
      const hidden = base.slice(OCI_WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw badTar('a whiteout of no name', e.name);
      const st = sys.tryStatx(parent, hidden);
      if (st === null) {
        sys.mknodat(parent, hidden, S.IFCHR, sys.makedev(0, 0));
      } else if ((st.mode & S.IFMT) === S.IFDIR) {
        // An object of this layer stays (whiteouts apply to the layers below): a directory of this
        // layer over a removed one shows nothing of what was below.
        sys.setxattrat(parent, hidden, this.opaqueName, Buffer.from('y'));
      }
      return;
    }

    let existing = sys.tryStatx(parent, base);
    let overWhiteout = false;
    if (existing !== null) {
      const isDir = (existing.mode & S.IFMT) === S.IFDIR;
      if (isDir && e.type === 'dir') {
        this.meta(parent, base, e, AT.SYMLINK_NOFOLLOW);
        this.dirTimes.set(rel, { atime: e.atime ?? e.mtime, mtime: e.mtime });
        return;
      }
      overWhiteout = (existing.mode & S.IFMT) === S.IFCHR && existing.rdev === 0;
      if (e.type === 'link') {
        // the target may be this very name: check before removing it
        const t = layerPath(e.linkname, 'the hard link target', e.name).join('/');
        if (t === rel) throw badTar('a hard link to itself', e.name);
      }
      this.remove(parent, base, existing, rel);
      existing = null;
    }

    switch (e.type) {
      case 'dir':
        sys.mkdirat(parent, base, 0o700);
        this.meta(parent, base, e, AT.SYMLINK_NOFOLLOW);
        if (overWhiteout) sys.setxattrat(parent, base, this.opaqueName, Buffer.from('y'));
        this.dirTimes.set(rel, { atime: e.atime ?? e.mtime, mtime: e.mtime });
        return;
      case 'file':
        await this.file(parent, base, e);
        return;
      case 'symlink':
        sys.symlinkat(e.linkname, parent, base);
        this.meta(parent, base, e, AT.SYMLINK_NOFOLLOW);
        this.times(parent, base, e, AT.SYMLINK_NOFOLLOW);
        return;
      case 'link': {
        const target = layerPath(e.linkname, 'the hard link target', e.name);
        if (target.length === 0) throw badTar('a hard link to the layer root', e.name);
        // The target's directory is opened here, not through the cache: a cache miss could evict
        // (close) `parent` while it is still needed.
        const notThere = (): Error => badTar(`hard link to ${JSON.stringify(e.linkname)}, which is not in the layer`, e.name);
        let tparent = this.root;
        if (target.length > 1) {
          try {
            tparent = sys.openBeneath(this.root, target.slice(0, -1).join('/'), O.PATH | O.DIRECTORY);
          } catch (err) {
            if ((err as sys.SysError).code === 'ENOENT') throw notThere();
            throw this.pathError(err, target.slice(0, -1).join('/'), e.name);
          }
        }
        try {
          sys.linkat(tparent, target[target.length - 1], parent, base, 0);
        } catch (err) {
          const code = (err as sys.SysError).code;
          if (code === 'ENOENT') throw notThere();
          if (code === 'EPERM') throw badTar(`hard link to ${JSON.stringify(e.linkname)}, a directory`, e.name);
          throw err;
        } finally {
          if (tparent !== this.root) sys.close(tparent);
        }
        return;
      }
      case 'char': case 'block': case 'fifo': {
        const fmt = e.type === 'char' ? S.IFCHR : e.type === 'block' ? S.IFBLK : S.IFIFO;
        sys.mknodat(parent, base, fmt | (e.mode & 0o777), e.type === 'fifo' ? 0 : sys.makedev(e.devMajor, e.devMinor));
        this.meta(parent, base, e, AT.SYMLINK_NOFOLLOW);
        this.times(parent, base, e, AT.SYMLINK_NOFOLLOW);
        return;
      }
    }
  }

  private async file(parent: number, base: string, e: TarEntry): Promise<void> {
    const fd = sys.openat(parent, base, O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW, 0o600);
    try {
      if (e.sparse !== null) {
        // Kept sparse: the size first, then only the data runs at their offsets.
        sys.ftruncate(fd, e.size);
        let run = 0;
        let inRun = 0;
        const runs = e.sparse;
        for await (const chunk of e.body()) {
          let off = 0;
          while (off < chunk.length) {
            while (run < runs.length && inRun === runs[run].length) { run++; inRun = 0; }
            const r = runs[run];
            const n = Math.min(chunk.length - off, r.length - inRun);
            writeAll(fd, chunk, off, n, r.offset + inRun);
            off += n;
            inRun += n;
          }
        }
      } else {
        let pos = 0;
        for await (const chunk of e.body()) {
          writeAll(fd, chunk, 0, chunk.length, pos);
          pos += chunk.length;
        }
      }
      if (this.chown) sys.fchown(fd, e.uid, e.gid);
      sys.fchmod(fd, e.mode);
      this.setXattrs(-1, '', e, fd);
      const a = e.atime ?? e.mtime;
      sys.utimensat(fd, '', a.sec, a.nsec, e.mtime.sec, e.mtime.nsec, AT.EMPTY_PATH);
    } finally {
      sys.close(fd);
    }
  }

  /** Owner, then mode (chown clears set-id bits), then xattrs. Symlinks have no mode of their own. */
  private meta(parent: number, base: string, e: TarEntry, flags: number): void {
    if (base === '') {
      const fd = this.rootRw();
      if (this.chown) sys.fchown(fd, e.uid, e.gid);
      sys.fchmod(fd, e.mode);
      this.setXattrs(-1, '', e, fd);
      return;
    }
    if (this.chown) sys.fchownat(parent, base, e.uid, e.gid, flags);
    if (e.type !== 'symlink') sys.fchmodat(parent, base, e.mode, 0);
    this.setXattrs(parent, base, e);
  }

  private rootFdRw = -1;
  /** fchmod needs a real fd (not O_PATH) for the root */
  private rootRw(): number {
    if (this.rootFdRw < 0) this.rootFdRw = sys.openat(this.root, '.', O.RDONLY | O.DIRECTORY);
    return this.rootFdRw;
  }

  private times(parent: number, base: string, e: TarEntry, flags: number): void {
    const a = e.atime ?? e.mtime;
    sys.utimensat(parent, base, a.sec, a.nsec, e.mtime.sec, e.mtime.nsec, flags);
  }

  /** Sets directory times (deepest first), then releases every fd. */
  finish(): void {
    const rels = [...this.dirTimes.keys()].sort((a, b) => b.length - a.length);
    for (const rel of rels) {
      const t = this.dirTimes.get(rel)!;
      if (rel === '') {
        sys.utimensat(this.root, '', t.atime.sec, t.atime.nsec, t.mtime.sec, t.mtime.nsec, AT.EMPTY_PATH);
        continue;
      }
      const parts = rel.split('/');
      const parent = this.dir(parts.slice(0, -1), rel);
      sys.utimensat(parent, parts[parts.length - 1], t.atime.sec, t.atime.nsec, t.mtime.sec, t.mtime.nsec, AT.SYMLINK_NOFOLLOW);
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.dirs.values()) sys.close(fd);
    this.dirs.clear();
    if (this.rootFdRw >= 0) sys.close(this.rootFdRw);
    for (const fd of this.lowerFds ?? []) sys.close(fd);
    sys.close(this.root);
  }
}

function writeAll(fd: number, buf: Buffer, off: number, len: number, pos: number): void {
  while (len > 0) {
    const n = fs.writeSync(fd, buf, off, len, pos);
    off += n;
    len -= n;
    pos += n;
  }
}
