import * as sys from '../sys';
import { AT, O, S } from '../sys';
import type { OverlayContext } from './context';
import { copyData, CopyMethod } from './copy-data';
import { OverlayError, hasCode } from './errors';
import { invalidate, invalidateListing, knownAt, lookupChild, lookupRoot, refreshNode } from './lookup';
import { OverlayNode, RealEntry, splitPath } from './node';
import type { WorkDir } from './workdir';
import { indexKey, isLowerHardLink } from './hardlink';

/**
 * Running without root (an unprivileged mount): chown to other ids fails with EPERM and setxattr
 * needs write permission on the object. Copy-up then does what fuse-overlayfs does as non-root: the
 * copy stays owned by the server's user. Root never takes these paths.
 */
function unprivileged(): boolean {
  return (process.geteuid?.() ?? 0) !== 0;
}

/**
 * Whether linkat(fd, '', dir, name, AT_EMPTY_PATH) works (it needs CAP_DAC_READ_SEARCH); learned on
 * first use. Without it an O_TMPFILE is linked through /proc/self/fd/N with AT_SYMLINK_FOLLOW.
 */
let emptyPathLink: boolean | null = null;

/** Gives the unnamed (O_TMPFILE) file `fd` the name `dirFd/name`. */
export function linkTmpfile(fd: number, dirFd: number, name: string): void {
  if (emptyPathLink !== false) {
    try {
      sys.linkat(fd, '', dirFd, name, AT.EMPTY_PATH);
      emptyPathLink = true;
      return;
    } catch (err) {
      if (emptyPathLink === true || !hasCode(err, 'ENOENT', 'EPERM')) throw err;
    }
  }
  sys.linkat(AT.FDCWD, `/proc/self/fd/${fd}`, dirFd, name, AT.SYMLINK_FOLLOW);
  emptyPathLink = false;
}

/** Name of our xattr that keeps a copied-up object's inode number (private: hidden like the kernel's). */
export function inoXattr(ctx: OverlayContext): string {
  return ctx.xattrs.inoNumber;
}

export function requireWork(ctx: OverlayContext, syscall: string, path: string): WorkDir {
  if (ctx.work === null) throw new OverlayError('EROFS', syscall, '/' + path);
  return ctx.work;
}

/** The merged node at `path` as it is now (after invalidation: looked up afresh). */
export function currentNode(ctx: OverlayContext, path: string): OverlayNode {
  let node = lookupRoot(ctx);
  if (path === '') return node;
  const known = knownAt(ctx, path);
  if (known !== undefined) return known;
  for (const name of path.split('/')) {
    const next = lookupChild(ctx, node, name);
    if (next === null) throw new OverlayError('ENOENT', 'copyup', '/' + path);
    node = next;
  }
  ctx.byPath.set(path, node);
  return node;
}

/**
 * One copy-up, as a context passed through named steps (kernel fs/overlayfs/copy_up.c): the object
 * is built in work/ (an O_TMPFILE where possible), data first, then owner, mode, xattrs (so
 * security.capability survives the chown) and times, synced, and only then put in place in the
 * upper with one link or rename. Killed at any point, the merged view is unchanged.
 */
class CopyUp {
  private tmpName: string | null = null;
  private fd = -1;
  private bytes = 0;
  private method: CopyMethod | 'none' = 'none';
  private readonly started = process.hrtime.bigint();
  private readonly source: RealEntry;
  /** Set for a lower hard link: the copy goes through work/index under this name. */
  private readonly indexKey: string | null;

  constructor(
    private readonly ctx: OverlayContext,
    private readonly work: WorkDir,
    private readonly node: OverlayNode,
    /** Copy the data too; false makes a metacopy upper (regular files only). */
    private readonly withData: boolean,
  ) {
    this.source = node.top;
    this.indexKey = isLowerHardLink(ctx, node.top) ? indexKey(node.top.stat) : null;
  }

  private get type(): number {
    return this.source.stat.mode & S.IFMT;
  }

  async run(): Promise<void> {
    try {
      this.createTemp();
      if (this.type === S.IFREG) await this.copyFileData();
      this.copyOwnerAndMode();
      this.copyXattrs();
      this.finishMode();
      this.copyTimes();
      // Data on disk before the name appears. fdatasync is enough: the size is part of it, and the
      // owner, mode and xattrs reach the journal with the link or rename that follows.
      if (this.fd >= 0 && this.withData && !this.ctx.config.volatile && this.bytes > 0) await sys.fdatasyncAsync(this.fd);
      this.install();
    } catch (err) {
      this.cleanup();
      throw err;
    } finally {
      if (this.fd >= 0) sys.close(this.fd);
      this.fd = -1;
    }
    this.ctx.stats.copyUps++;
    if (!this.withData && this.type === S.IFREG) this.ctx.stats.metaCopyUps++;
    this.ctx.stats.copyUpBytes += this.bytes;
    this.ctx.events.emit('copy-up', {
      path: '/' + this.node.path, bytes: this.bytes, method: this.method, metadataOnly: !this.withData,
      ms: Number(process.hrtime.bigint() - this.started) / 1e6,
    });
  }

  /** Step 1: the new object, unnamed (O_TMPFILE) or under a temp name in work/. */
  private createTemp(): void {
    const st = this.source.stat;
    const perm = 0o700;
    switch (this.type) {
      case S.IFREG:
        if (this.work.tmpfile) {
          this.fd = sys.openat(this.work.fd, '.', O.TMPFILE | O.RDWR, 0o600);
        } else {
          this.tmpName = this.work.tempName();
          this.fd = sys.openat(this.work.fd, this.tmpName, O.CREAT | O.EXCL | O.RDWR, 0o600);
        }
        return;
      case S.IFDIR:
        this.tmpName = this.work.tempName();
        sys.mkdirat(this.work.fd, this.tmpName, perm);
        return;
      case S.IFLNK: {
        const { dir, name } = splitPath(this.source.path);
        const target = sys.readlinkat(this.source.layer.dirFd(dir), name);
        this.tmpName = this.work.tempName();
        sys.symlinkat(target, this.work.fd, this.tmpName);
        return;
      }
      default:
        this.tmpName = this.work.tempName();
        sys.mknodat(this.work.fd, this.tmpName, (st.mode & S.IFMT) | 0o600, st.rdev);
    }
  }

  /** Step 2: data (or, for a metacopy, only the size and the metacopy mark). */
  private async copyFileData(): Promise<void> {
    const st = this.source.stat;
    if (!this.withData) {
      sys.ftruncate(this.fd, st.size);
      sys.fsetxattr(this.fd, this.ctx.xattrs.metacopy, Buffer.alloc(0));
      return;
    }
    const data = this.node.dataEntry;
    const { dir, name } = splitPath(data.path);
    const src = sys.openBeneath(data.layer.dirFd(dir), name, O.RDONLY | O.NOFOLLOW);
    try {
      const r = await copyData(src, this.fd, data.stat.size, data.layer.dev, this.work.upper.dev);
      this.bytes = r.bytes;
      this.method = r.method;
    } finally {
      sys.close(src);
    }
  }

  /** Path of the temp object relative to the work dir fd ('' + AT_EMPTY_PATH for an O_TMPFILE fd). */
  private where(): { dirFd: number; path: string; flags: number } {
    if (this.tmpName === null) return { dirFd: this.fd, path: '', flags: AT.EMPTY_PATH };
    return { dirFd: this.work.fd, path: this.tmpName, flags: AT.SYMLINK_NOFOLLOW };
  }

  /** Mode still to set after the xattrs (unprivileged: the owner needed write permission for them). */
  private pendingMode: number | null = null;

  /** Step 3: owner, then mode (chown clears set-id bits, so mode comes after it). */
  private copyOwnerAndMode(): void {
    const st = this.source.stat;
    const w = this.where();
    try {
      sys.fchownat(w.dirFd, w.path, st.uid, st.gid, w.flags);
    } catch (err) {
      // Not root: another user's object cannot be given away; the copy stays ours (fuse-overlayfs).
      if (!(unprivileged() && hasCode(err, 'EPERM'))) throw err;
    }
    if (this.type !== S.IFLNK) {
      let mode = st.mode & 0o7777;
      if (unprivileged() && (mode & 0o200) === 0) {
        // setxattr checks write permission (root has CAP_DAC_OVERRIDE): u+w until the xattrs are on
        this.pendingMode = mode;
        mode |= 0o200;
      }
      this.chmod(mode);
    }
  }

  private chmod(mode: number): void {
    const w = this.where();
    if (this.fd >= 0) sys.fchmod(this.fd, mode);
    else sys.fchmodat(w.dirFd, w.path, mode);
  }

  /** Step 4b: the final mode, when step 3 had to leave the owner write bit on. */
  private finishMode(): void {
    if (this.pendingMode === null) return;
    this.chmod(this.pendingMode);
    this.pendingMode = null;
  }

  /**
   * Step 4: every xattr of the source but the overlay's own (escaped ones are copied as stored), and
   * ours recording the inode number, so st_ino stays the same after copy-up.
   */
  private copyXattrs(): void {
    const { dir, name } = splitPath(this.source.path);
    const srcDir = this.source.layer.dirFd(dir);
    const w = this.where();
    const dstDir = w.path === '' ? this.fd : w.dirFd;
    for (const x of sys.listxattrat(srcDir, name)) {
      if (this.ctx.xattrs.isPrivate(x)) continue;
      const value = sys.getxattrat(srcDir, name, x);
      if (value === null) continue;
      try {
        sys.setxattrat(dstDir, w.path, x, value);
      } catch (err) {
        // Some xattrs cannot be set on some object types (user.* on symlinks): the kernel skips those too.
        if (!hasCode(err, 'EPERM', 'EOPNOTSUPP', 'ENOTSUP')) throw err;
      }
    }
    if (this.indexKey !== null) sys.setxattrat(dstDir, w.path, this.ctx.xattrs.nlink, Buffer.from(String(this.source.stat.nlink)));
    // Every copied-up object keeps its inode number (symlinks and special files too: trusted.*
    // xattrs are allowed on them; where the filesystem refuses, the number changes as it must).
    try {
      sys.setxattrat(dstDir, w.path, inoXattr(this.ctx), Buffer.from(String(this.node.ino)));
    } catch (err) {
      if (!hasCode(err, 'EPERM', 'EOPNOTSUPP', 'ENOTSUP') || this.type === S.IFDIR || this.type === S.IFREG) throw err;
    }
    if (this.type === S.IFDIR || this.type === S.IFREG) {
      // A directory found through a redirect keeps finding its lower part there.
      if (this.type === S.IFDIR && this.source.path !== this.node.path) {
        sys.setxattrat(dstDir, w.path, this.ctx.xattrs.redirect, Buffer.from('/' + this.source.path));
      }
    }
  }

  /** Step 5: times last (writing data and xattrs would change them). */
  private copyTimes(): void {
    const st = this.source.stat;
    const w = this.where();
    sys.utimensat(w.dirFd, w.path, st.atimeSec, st.atimeNsec, st.mtimeSec, st.mtimeNsec, w.flags);
  }

  /** Step 6: into place, in one step; the name must still be free in the upper directory. */
  private install(): void {
    const { dir, name } = splitPath(this.node.path);
    const upper = this.work.upper;
    const parentFd = upper.dirFd(dir);
    // A copy-up is no change of the parent: its times are put back (the kernel's ovl_set_timestamps).
    const parent = sys.fstat(parentFd);
    if (this.indexKey !== null) {
      this.installIndexed(parentFd, name);
    } else if (this.tmpName === null) {
      linkTmpfile(this.fd, parentFd, name);
    } else {
      sys.renameat2(this.work.fd, this.tmpName, parentFd, name, sys.RENAME.NOREPLACE);
      this.tmpName = null;
    }
    sys.utimensat(parentFd, '', parent.atimeSec, parent.atimeNsec, parent.mtimeSec, parent.mtimeNsec, AT.EMPTY_PATH);
  }

  /** A lower hard link: into work/index first, then linked into place (the other names find it there). */
  private installIndexed(parentFd: number, name: string): void {
    const index = this.work.index.rootFd;
    const key = this.indexKey!;
    try {
      if (this.tmpName === null) linkTmpfile(this.fd, index, key);
      else {
        sys.renameat2(this.work.fd, this.tmpName, index, key, sys.RENAME.NOREPLACE);
        this.tmpName = null;
      }
    } catch (err) {
      // Another name of the same file got there first: ours is not needed, theirs is the file.
      if (!hasCode(err, 'EEXIST')) throw err;
      this.cleanup();
    }
    sys.linkat(index, key, parentFd, name, 0);
  }

  private cleanup(): void {
    if (this.tmpName === null) return;
    try {
      if (this.type === S.IFDIR) sys.unlinkat(this.work.fd, this.tmpName, AT.REMOVEDIR);
      else sys.unlinkat(this.work.fd, this.tmpName);
    } catch {
      /* removed at the next open */
    }
  }
}

/** After a copy-up the parent's index must learn that the upper now holds the name too. */
function invalidateWithParent(ctx: OverlayContext, path: string): void {
  invalidateListing(ctx, splitPath(path).dir);
  invalidate(ctx, path);
}

/** Runs `fn` once per path at a time: callers arriving while it runs share its result. */
async function singleFlight<T>(ctx: OverlayContext, key: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    const running = ctx.copyUpsInFlight.get(key);
    if (running === undefined) break;
    await running.catch(() => undefined);
  }
  const p = fn();
  ctx.copyUpsInFlight.set(key, p);
  try {
    return await p;
  } finally {
    ctx.copyUpsInFlight.delete(key);
  }
}

/**
 * Makes sure merged directory `path` exists in the upper layer, copying up its ancestors first: the
 * nodes up to the first one in the upper, then down, one copy each (trees may be 10,000 deep).
 */
export async function copyUpDir(ctx: OverlayContext, path: string): Promise<OverlayNode> {
  const node = currentNode(ctx, path);
  if (node.top.layer.isUpper) return node;
  if (!node.isDir) throw new OverlayError('ENOTDIR', 'copyup', '/' + path);
  const work = requireWork(ctx, 'copyup', path);
  const missing: OverlayNode[] = [];
  for (let n: OverlayNode | null = node; n !== null && !n.top.layer.isUpper; n = n.parent) missing.push(n);
  for (let i = missing.length - 1; i >= 0; i--) {
    const dir = missing[i];
    const at = dir.path;
    await singleFlight(ctx, 'dir:' + at, async () => {
      if (dir.top.layer.isUpper) return; // copied by a caller before us (the node changed in place)
      await new CopyUp(ctx, work, dir, false).run();
      // In place, without walking from the root: its parent's index learns the upper has it now.
      if (dir.parent !== null) ctx.listingChanged(dir.parent);
      refreshNode(ctx, dir);
    });
  }
  return node.stale ? currentNode(ctx, path) : node;
}

/**
 * Copies up a non-directory: `data` false allows a metadata-only copy (metacopy) of a regular file;
 * true copies the data too, also completing an earlier metacopy.
 */
export async function copyUp(ctx: OverlayContext, path: string, data: boolean): Promise<OverlayNode> {
  let node = currentNode(ctx, path);
  if (node.isDir) return copyUpDir(ctx, path);
  if (node.top.layer.isIndex) return linkIndexed(ctx, path);
  // Hard links are copied whole (a metacopy could not be shared through the index).
  const wantData = data || !ctx.config.metacopy || node.type !== S.IFREG || isLowerHardLink(ctx, node.top);
  if (node.top.layer.isUpper && (!wantData || node.dataIndex === 0)) return node;
  const work = requireWork(ctx, 'copyup', path);
  await copyUpDir(ctx, splitPath(path).dir);
  return singleFlight(ctx, 'obj:' + path, async () => {
    node = currentNode(ctx, path);
    if (node.top.layer.isUpper) {
      if (!wantData || node.dataIndex === 0) return node;
      await completeMetacopy(ctx, work, node);
    } else {
      await new CopyUp(ctx, work, node, wantData).run();
    }
    invalidateWithParent(ctx, path);
    return currentNode(ctx, path);
  });
}

/** Copy-up of a name whose hard-linked twin was copied up already: one more link to that copy. */
async function linkIndexed(ctx: OverlayContext, path: string): Promise<OverlayNode> {
  const work = requireWork(ctx, 'copyup', path);
  const { dir, name } = splitPath(path);
  await copyUpDir(ctx, dir);
  return singleFlight(ctx, 'obj:' + path, async () => {
    const node = currentNode(ctx, path);
    if (!node.top.layer.isIndex) return node;
    const parentFd = work.upper.dirFd(dir);
    const parent = sys.fstat(parentFd);
    sys.linkat(work.index.rootFd, node.top.path, parentFd, name, 0);
    sys.utimensat(parentFd, '', parent.atimeSec, parent.atimeNsec, parent.mtimeSec, parent.mtimeNsec, AT.EMPTY_PATH);
    invalidateWithParent(ctx, path);
    return currentNode(ctx, path);
  });
}

/** Copies the lower data into a metacopy upper file, then drops the metacopy mark. */
async function completeMetacopy(ctx: OverlayContext, work: WorkDir, node: OverlayNode): Promise<void> {
  const up = node.top;
  const data = node.dataEntry;
  const { dir, name } = splitPath(up.path);
  const { dir: dDir, name: dName } = splitPath(data.path);
  const started = process.hrtime.bigint();
  const dst = sys.openBeneath(up.layer.dirFd(dir), name, O.RDWR | O.NOFOLLOW);
  try {
    const src = sys.openBeneath(data.layer.dirFd(dDir), dName, O.RDONLY | O.NOFOLLOW);
    let result;
    try {
      // The upper holds only a size; start from an empty file so holes stay holes.
      const keep = sys.fstat(dst);
      sys.ftruncate(dst, 0);
      result = await copyData(src, dst, data.stat.size, data.layer.dev, work.upper.dev);
      sys.ftruncate(dst, keep.size);
      sys.utimensat(dst, '', keep.atimeSec, keep.atimeNsec, keep.mtimeSec, keep.mtimeNsec, AT.EMPTY_PATH);
    } finally {
      sys.close(src);
    }
    if (!ctx.config.volatile) await sys.fdatasyncAsync(dst);
    for (const x of ctx.xattrs.markerNames('metacopy')) {
      try {
        sys.fremovexattr(dst, x);
      } catch (err) {
        if (!hasCode(err, 'ENODATA')) throw err;
      }
    }
    ctx.stats.copyUps++;
    ctx.stats.copyUpBytes += result.bytes;
    ctx.events.emit('copy-up', { path: '/' + node.path, bytes: result.bytes, method: result.method, metadataOnly: false, ms: Number(process.hrtime.bigint() - started) / 1e6 });
  } finally {
    sys.close(dst);
  }
}
