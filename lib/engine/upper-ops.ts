import * as sys from '../sys';
import { AT, O, RENAME, S } from '../sys';
import type { OverlayContext } from './context';
import { hitPosition, isOciWhiteoutHit } from './dir-index';
import { NAME_MAX, invalidate } from './lookup';
import { hasCode } from './errors';
import type { OverlayNode } from './node';
import { OCI_WHITEOUT_PREFIX, isDeviceWhiteout } from './whiteout';
import type { WorkDir } from './workdir';
import { removeTree } from './workdir';

/**
 * Small building blocks over the upper layer shared by the namespace operations: whiteouts, opaque
 * marks, redirects, and whether a lower layer still holds a name.
 */

/** True when some lower layer of directory `parent` shows `name` (so removing it needs a whiteout). */
export function lowerHasName(ctx: OverlayContext, parent: OverlayNode, name: string): boolean {
  const first = parent.entries.findIndex((e) => !e.layer.isUpper);
  if (first < 0) return false;
  const probeAt = (pos: number): 'object' | 'whiteout' | null => {
    const e = parent.entries[pos];
    const fd = e.layer.dirFd(e.path);
    const st = sys.tryStatx(fd, name);
    if (st !== null) return isDeviceWhiteout(st) ? 'whiteout' : 'object';
    return name.length <= NAME_MAX - OCI_WHITEOUT_PREFIX.length && sys.tryStatx(fd, OCI_WHITEOUT_PREFIX + name) !== null ? 'whiteout' : null;
  };
  // Ask the index when there is one; else each lower layer in turn (cheaper than building it).
  const index = parent.entries.length > 1 ? ctx.dirIndexes.get(parent.serial) : undefined;
  if (index !== undefined) {
    for (const code of index.hits.get(name) ?? []) {
      const pos = hitPosition(code);
      if (pos < first) continue;
      if (isOciWhiteoutHit(code)) return false;
      const found = probeAt(pos);
      if (found !== null) return found === 'object';
    }
    return false;
  }
  for (let pos = first; pos < parent.entries.length; pos++) {
    const found = probeAt(pos);
    if (found !== null) return found === 'object';
  }
  return false;
}

/** What the upper directory holds at `name`: nothing, a whiteout, or a real object. */
export function upperState(ctx: OverlayContext, dirPath: string, name: string): 'none' | 'whiteout' | 'object' {
  const st = sys.tryStatx(ctx.stack.upper!.dirFd(dirPath), name);
  if (st === null) return 'none';
  if (isDeviceWhiteout(st)) return 'whiteout';
  if ((st.mode & S.IFMT) === S.IFREG && st.size === 0) {
    const fd = ctx.stack.upper!.dirFd(dirPath);
    if (ctx.xattrs.markerNames('whiteout').some((x) => sys.getxattrat(fd, name, x) !== null)) return 'whiteout';
  }
  return 'object';
}

/**
 * Writes a whiteout named `name` in `dirFd`: the kernel's 0/0 device where mknod is allowed, else
 * the kernel's xattr form (a zero-size file marked `overlay.whiteout`, its directory marked
 * `overlay.opaque=x`), which unprivileged kernel overlays read too.
 */
export function writeWhiteout(ctx: OverlayContext, work: WorkDir, dirFd: number, name: string, markDir: () => void): void {
  if (work.canMknodWhiteout()) {
    work.makeDeviceWhiteout(dirFd, name);
    return;
  }
  markDir();
  // Made writable, marked, then mode 0: setxattr checks write permission, which only root skips.
  // Not root, the server must still read the marker back (getxattr checks read permission): 0400.
  const fd = sys.openat(dirFd, name, O.CREAT | O.EXCL | O.WRONLY, 0o600);
  try {
    sys.fsetxattr(fd, ctx.xattrs.whiteout, Buffer.alloc(0));
    sys.fchmod(fd, (process.geteuid?.() ?? 0) === 0 ? 0 : 0o400);
  } finally {
    sys.close(fd);
  }
}

/** Marks upper directory `dirPath` as holding xattr whiteouts (unless it is opaque already). */
export function markXwhiteouts(ctx: OverlayContext, dirPath: string): void {
  const { dirFd, name } = upperParentOf(ctx, dirPath);
  if (sys.getxattrat(dirFd, name, ctx.xattrs.opaque) !== null) return;
  sys.setxattrat(dirFd, name, ctx.xattrs.opaque, Buffer.from('x'));
  invalidate(ctx, dirPath); // its node records whether it holds xattr whiteouts
}

/** (parent fd, name) addressing of an upper path; the root is ('' on the root fd). */
export function upperParentOf(ctx: OverlayContext, path: string): { dirFd: number; name: string } {
  const upper = ctx.stack.upper!;
  if (path === '') return { dirFd: upper.rootFd, name: '' };
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { dirFd: upper.rootFd, name: path } : { dirFd: upper.dirFd(path.slice(0, slash)), name: path.slice(slash + 1) };
}

export function setOpaque(ctx: OverlayContext, dirFd: number, name: string): void {
  sys.setxattrat(dirFd, name, ctx.xattrs.opaque, Buffer.from('y'));
}

/**
 * Replaces the upper object at `dirFd/name` with a whiteout in one step: the whiteout is made in
 * work/ and exchanged with the object, which is then removed from work/ (a directory with the
 * whiteouts it held).
 */
export function replaceWithWhiteout(ctx: OverlayContext, work: WorkDir, dirFd: number, name: string, dirPath: string): void {
  const tmp = work.tempName();
  writeWhiteout(ctx, work, work.fd, tmp, () => markXwhiteouts(ctx, dirPath));
  try {
    sys.renameat2(work.fd, tmp, dirFd, name, RENAME.EXCHANGE);
  } catch (err) {
    sys.unlinkat(work.fd, tmp);
    throw err;
  }
  removeTree(work.fd, tmp);
}

/** Removes the upper object at `dirFd/name` (a directory with whatever whiteouts it still holds). */
export function removeUpper(work: WorkDir, dirFd: number, name: string, isDir: boolean): void {
  if (!isDir) {
    sys.unlinkat(dirFd, name);
    return;
  }
  try {
    sys.unlinkat(dirFd, name, AT.REMOVEDIR);
  } catch (err) {
    if (!hasCode(err, 'ENOTEMPTY', 'EEXIST')) throw err;
    // Only whiteouts are left inside: move it out of sight first, then clear it.
    const tmp = work.tempName();
    sys.renameat2(dirFd, name, work.fd, tmp, 0);
    removeTree(work.fd, tmp);
  }
}
