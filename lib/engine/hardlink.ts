import * as sys from '../sys';
import { S } from '../sys';
import type { OverlayContext } from './context';
import { hasCode } from './errors';
import type { OverlayNode, RealEntry } from './node';
import { splitPath } from './node';

/**
 * Lower hard links stay one file after copy-up (the kernel's index=on): the first name copied up
 * puts the copy in `work/index/<dev>-<ino>` of the lower inode and links it into place; the other
 * names then resolve to that indexed copy, and copying them up is one more link. The merged link
 * count is kept in a private xattr of the shared inode.
 */

/** Index name of a lower object: its device and inode number. */
export function indexKey(st: sys.Stat): string {
  return `${st.dev.toString(16)}-${st.ino.toString(16)}`;
}

/** A lower regular file with several names: copy-up goes through the index. */
export function isLowerHardLink(ctx: OverlayContext, e: RealEntry): boolean {
  return ctx.work !== null && !e.layer.mutable && (e.stat.mode & S.IFMT) === S.IFREG && e.stat.nlink > 1;
}

/** The indexed copy of a lower hard-linked file, if one of its names was copied up already. */
export function findIndexed(ctx: OverlayContext, lower: RealEntry): RealEntry | null {
  if (!isLowerHardLink(ctx, lower)) return null;
  const index = ctx.work!.index;
  const key = indexKey(lower.stat);
  const stat = sys.tryStatx(index.rootFd, key);
  return stat === null ? null : { layer: index, path: key, stat };
}

/** The merged link count of a copied-up hard link (null for objects without one). */
export function savedLinkCount(ctx: OverlayContext, e: RealEntry, st: sys.Stat): number | null {
  if (!e.layer.mutable || (st.mode & S.IFMT) !== S.IFREG || st.nlink < 2) return null;
  const { dir, name } = splitPath(e.path);
  const v = sys.getxattrat(e.layer.dirFd(dir), name, ctx.xattrs.nlink);
  if (v === null) return null;
  const n = Number(v.toString('latin1'));
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Adds `delta` to the merged link count of the object behind `node`, where it keeps one. */
export function adjustLinkCount(ctx: OverlayContext, node: OverlayNode, delta: number): void {
  const top = node.top;
  if (!top.layer.mutable) return;
  const { dir, name } = splitPath(top.path);
  const fd = top.layer.dirFd(dir);
  const v = sys.getxattrat(fd, name, ctx.xattrs.nlink);
  if (v === null) return;
  const n = Math.max(0, Number(v.toString('latin1')) + delta);
  try {
    sys.setxattrat(fd, name, ctx.xattrs.nlink, Buffer.from(String(n)));
  } catch (err) {
    if (!hasCode(err, 'ENOENT')) throw err;
  }
}
