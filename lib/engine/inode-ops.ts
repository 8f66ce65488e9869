import * as sys from '../sys';
import { AT, O, S, UTIME } from '../sys';
import type { OverlayContext } from './context';
import { copyUp, currentNode } from './copy-up';
import { invalidate } from './lookup';
import { OverlayError, hasCode } from './errors';
import type { OverlayNode } from './node';
import { upperParentOf } from './upper-ops';
import { getXattr } from './xattr';

/** A time to set: seconds and nanoseconds, or the current time. */
export type TimeSpec = { sec: number; nsec: number } | 'now';

export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: TimeSpec;
  mtime?: TimeSpec;
}

const where = (path: string) => '/' + path;

/**
 * Copies up a regular file for truncation: to size 0 no data is needed (a metadata copy whose
 * metacopy mark is dropped), to any other size the data first.
 */
export async function copyUpForTruncate(ctx: OverlayContext, path: string, size: number): Promise<OverlayNode> {
  if (size !== 0) return copyUp(ctx, path, true);
  const before = currentNode(ctx, path);
  if (before.top.layer.isUpper && before.dataIndex === 0) return before;
  const node = before.top.layer.isUpper ? before : await copyUp(ctx, path, false);
  if (node.dataIndex === 0) return node;
  const { dirFd, name } = upperParentOf(ctx, path);
  const fd = sys.openBeneath(dirFd, name, O.WRONLY | O.NOFOLLOW);
  try {
    sys.ftruncate(fd, 0);
    for (const x of ctx.xattrs.markerNames('metacopy')) {
      try {
        sys.fremovexattr(fd, x);
      } catch (err) {
        if (!hasCode(err, 'ENODATA')) throw err;
      }
    }
  } finally {
    sys.close(fd);
  }
  invalidate(ctx, path);
  return currentNode(ctx, path);
}

/**
 * setattr: mode, owner and times copy up metadata only (metacopy); a size change needs the data.
 * The change is then made on the upper object, so the VFS rules (chown clears set-id bits) hold.
 */
export async function setAttr(ctx: OverlayContext, path: string, attr: SetAttr): Promise<void> {
  let node = currentNode(ctx, path);
  if (attr.size !== undefined) {
    if (node.isDir) throw new OverlayError('EISDIR', 'truncate', where(path));
    if (node.type !== S.IFREG) throw new OverlayError('EINVAL', 'truncate', where(path));
    if (attr.size < 0) throw new OverlayError('EINVAL', 'truncate', where(path));
    node = await copyUpForTruncate(ctx, path, attr.size);
  } else {
    node = await copyUp(ctx, path, false);
  }
  const { dirFd, name } = upperParentOf(ctx, path);
  if (attr.uid !== undefined || attr.gid !== undefined) {
    sys.fchownat(dirFd, name, attr.uid ?? -1, attr.gid ?? -1, AT.SYMLINK_NOFOLLOW | (name === '' ? AT.EMPTY_PATH : 0));
  }
  if (attr.mode !== undefined && node.type !== S.IFLNK) {
    if (name === '') sys.fchmodat(dirFd, '.', attr.mode & 0o7777);
    else sys.fchmodat(dirFd, name, attr.mode & 0o7777);
  }
  if (attr.size !== undefined) {
    const fd = sys.openBeneath(dirFd, name, O.WRONLY | O.NOFOLLOW);
    try {
      sys.ftruncate(fd, attr.size);
    } finally {
      sys.close(fd);
    }
  }
  if (attr.atime !== undefined || attr.mtime !== undefined) {
    const t = (x: TimeSpec | undefined): [number, number] => (x === undefined ? [0, UTIME.OMIT] : x === 'now' ? [0, UTIME.NOW] : [x.sec, x.nsec]);
    const [as, an] = t(attr.atime);
    const [ms, mn] = t(attr.mtime);
    sys.utimensat(dirFd, name, as, an, ms, mn, AT.SYMLINK_NOFOLLOW | (name === '' ? AT.EMPTY_PATH : 0));
  }
  // An upper non-directory keeps its node: mode, owner and times change nothing a lookup found
  // (type, inode, layers, markers), and an upper object's stat is read again whenever it is asked
  // for (attr.ts currentStat). A size change may end a metacopy, and a directory's cached stat is
  // what its new children inherit (set-group-ID): those are looked up again.
  if (attr.size !== undefined || node.isDir || !node.top.layer.isUpper) invalidate(ctx, path);
}

/** user.* xattrs exist on regular files and directories only: EPERM before any copy-up (the VFS's xattr_permission). */
function checkUserXattr(node: OverlayNode, attrName: string, syscall: string): void {
  if (attrName.startsWith('user.') && node.type !== S.IFREG && !node.isDir) throw new OverlayError('EPERM', syscall, where(node.path));
}

/** setxattr: on the upper copy (metadata-only copy-up), under the escaped name for private-looking names. */
export async function setXattr(ctx: OverlayContext, path: string, attrName: string, value: Buffer, flags: number): Promise<void> {
  checkUserXattr(currentNode(ctx, path), attrName, 'setxattr');
  await copyUp(ctx, path, false);
  const { dirFd, name } = upperParentOf(ctx, path);
  sys.setxattrat(dirFd, name, ctx.xattrs.toStored(attrName), value, flags);
  invalidate(ctx, path);
}

/** removexattr: ENODATA without a copy-up when the object does not have it. */
export async function removeXattr(ctx: OverlayContext, path: string, attrName: string): Promise<void> {
  checkUserXattr(currentNode(ctx, path), attrName, 'removexattr');
  getXattr(ctx, currentNode(ctx, path), attrName); // throws ENODATA
  await copyUp(ctx, path, false);
  const { dirFd, name } = upperParentOf(ctx, path);
  sys.removexattrat(dirFd, name, ctx.xattrs.toStored(attrName));
  invalidate(ctx, path);
}
