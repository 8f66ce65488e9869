import * as sys from '../sys';
import { AT, O, RENAME, S, UTIME } from '../sys';
import type { OverlayContext } from './context';
import { copyUp, copyUpDir, currentNode, requireWork } from './copy-up';
import type { Caller } from './creds';
import { adjustLinkCount } from './hardlink';
import { ACL_ACCESS, ACL_DEFAULT, InheritedAcl, inheritAcl } from './acl';
import { OverlayError, hasCode } from './errors';
import { checkName, forgetTree, invalidate, invalidateListing, lookupChild, newUpperObject, renamed } from './lookup';
import { OverlayNode, joinPath, splitPath } from './node';
import { listDirectory } from './readdir';
import {
  lowerHasName, markXwhiteouts, removeUpper, replaceWithWhiteout, setOpaque, upperParentOf, upperState, writeWhiteout,
} from './upper-ops';
import type { WorkDir } from './workdir';
import type { PooledFile } from './file-pool';

/**
 * Namespace changes (kernel fs/overlayfs/dir.c): create, mkdir, symlink, mknod, link, unlink,
 * rmdir, rename. Each works on the upper layer only, copying up parents first, writes whiteouts
 * where a lower layer still holds a removed name, and leaves the caches consistent.
 */

export type NewObject =
  | { kind: 'file'; mode: number; flags: number }
  | { kind: 'dir'; mode: number }
  | { kind: 'symlink'; target: string }
  | { kind: 'node'; mode: number; rdev: number };

const where = (path: string) => '/' + path;
/** Who creates objects in the upper layer: this process. */
const EUID = process.geteuid?.() ?? 0;
const EGID = process.getegid?.() ?? 0;
const S_ISGID = 0o2000;

function existing(ctx: OverlayContext, parent: OverlayNode, name: string): OverlayNode | null {
  return lookupChild(ctx, parent, name);
}

/** Owner of a new object: the caller, but the group of a set-group-ID directory (as the VFS does). */
function ownerFor(parentStat: sys.Stat, caller: Caller): { uid: number; gid: number; inheritSgid: boolean } {
  const sgid = (parentStat.mode & S_ISGID) !== 0;
  return { uid: caller.uid, gid: sgid ? parentStat.gid : caller.gid, inheritSgid: sgid };
}

/**
 * Makes the object `obj` named `name` in `dirFd`. For a file: its open fd, and its stat when the
 * one taken is still current (nothing changed it since); else fd -1 and no stat.
 */
function makeObject(dirFd: number, name: string, obj: NewObject, uid: number, gid: number, sgidDir: boolean): { fd: number; stat: sys.Stat | null } {
  const none = { fd: -1, stat: null };
  switch (obj.kind) {
    case 'file': {
      // Opened read-write whatever the caller asked: the access check was the caller's, the fd is ours.
      // A file that will be ours as created (no chown) and has no set-ID bits is created with its
      // mode; else 0600, then its owner, then its mode (chown clears set-ID bits). The chown and
      // chmod calls are skipped when the new file already has what they would set (the umask may
      // have taken bits): a root caller in a plain directory makes one openat and one fstat.
      const mode = obj.mode & 0o7777;
      const ownedAsCreated = uid === EUID && (sgidDir || gid === EGID);
      const createMode = ownedAsCreated && (mode & ~0o777) === 0 ? mode : 0o600;
      const fd = sys.openat(dirFd, name, O.CREAT | O.EXCL | O.NOFOLLOW | O.RDWR | (obj.flags & O.APPEND), createMode);
      return { fd, stat: ownAndMode(fd, uid, gid, mode) };
    }
    case 'dir':
      sys.mkdirat(dirFd, name, 0o700);
      sys.fchownat(dirFd, name, uid, gid, AT.SYMLINK_NOFOLLOW);
      // mkdir(2) keeps only the permission and sticky bits; set-group-ID comes from the parent alone.
      sys.fchmodat(dirFd, name, (obj.mode & 0o1777) | (sgidDir ? S_ISGID : 0));
      return none;
    case 'symlink':
      sys.symlinkat(obj.target, dirFd, name);
      sys.fchownat(dirFd, name, uid, gid, AT.SYMLINK_NOFOLLOW);
      return none;
    case 'node':
      sys.mknodat(dirFd, name, (obj.mode & S.IFMT) | 0o600, obj.rdev);
      sys.fchownat(dirFd, name, uid, gid, AT.SYMLINK_NOFOLLOW);
      sys.fchmodat(dirFd, name, obj.mode & 0o7777);
      return none;
  }
}

/**
 * Gives the new file open as `fd` its owner, then its mode (chown clears set-ID bits), each only
 * if it lacks it. Returns its stat when that is still current (nothing was changed), else null.
 */
function ownAndMode(fd: number, uid: number, gid: number, mode: number): sys.Stat | null {
  const st = sys.fstat(fd);
  const chown = st.uid !== uid || st.gid !== gid;
  if (chown) sys.fchown(fd, uid, gid);
  const chmod = chown || (st.mode & 0o7777) !== mode;
  if (chmod) sys.fchmod(fd, mode);
  return chmod ? null : st;
}

/**
 * Puts the pooled file `f` (lib/engine/file-pool.ts: empty, 0600, ours, made a while ago in work/)
 * in place as the new file `name` of `dirFd`, then gives it what makeObject's create would have:
 * the current times (the rename already set its ctime), its owner, its mode. Null when it cannot
 * be put there for a reason a plain create would not meet (the caller then creates the file itself);
 * EEXIST is thrown as O_EXCL would.
 */
function placePooledFile(work: WorkDir, f: PooledFile, dirFd: number, name: string, mode: number, uid: number, gid: number): { fd: number; stat: sys.Stat | null } | null {
  try {
    sys.renameat2(work.fd, f.name, dirFd, name, RENAME.NOREPLACE);
  } catch (err) {
    work.pool.discard(f);
    if (hasCode(err, 'EEXIST')) throw err;
    return null;
  }
  const fd = f.fd;
  try {
    sys.utimensat(fd, '', 0, UTIME.NOW, 0, UTIME.NOW, AT.EMPTY_PATH);
    return { fd, stat: ownAndMode(fd, uid, gid, mode) };
  } catch (err) {
    // Not the file its creator asked for: remove it (as a failed create leaves nothing).
    sys.close(fd);
    try {
      sys.unlinkat(dirFd, name);
    } catch {
      /* already gone */
    }
    throw err;
  }
}

/**
 * The mode and ACLs a new object gets from its upper parent `dirFd` (a copy of the merged parent,
 * xattrs included) for a caller whose umask is not applied yet: the umask alone without a default
 * ACL (`acl` then only carries the mode), else the default ACL's inheritance (lib/engine/acl.ts).
 */
function inheritedAcl(dirFd: number, obj: Exclude<NewObject, { kind: 'symlink' }>, umask: number): InheritedAcl {
  let defaultAcl: Buffer | null = null;
  try {
    defaultAcl = sys.getxattrat(dirFd, '', ACL_DEFAULT);
  } catch (err) {
    if (!hasCode(err, 'EOPNOTSUPP', 'ENOTSUP')) throw err;
  }
  if (defaultAcl === null || defaultAcl.length === 0) return { mode: obj.mode & ~(umask & 0o777), access: null, default: null };
  return inheritAcl(defaultAcl, obj.mode, obj.kind === 'dir');
}

/**
 * Gives the new object `name` in `dirFd` (open as `fd` for files) the ACLs it inherits. Made with
 * the inherited mode already; the filesystem may have applied the directory's default ACL itself
 * to the mode it was made with, so the access ACL is written (or removed) either way. Returns
 * whether it changed the object (its stat is then stale).
 */
function writeAcl(dirFd: number, name: string, fd: number, acl: InheritedAcl): boolean {
  // No default ACL above (only the umask applied): nothing to write.
  if (acl.access === null && acl.default === null) return false;
  const set = (xname: string, value: Buffer) => (fd >= 0 ? sys.fsetxattr(fd, xname, value) : sys.setxattrat(dirFd, name, xname, value));
  if (acl.access !== null) set(ACL_ACCESS, acl.access);
  else {
    try {
      if (fd >= 0) sys.fremovexattr(fd, ACL_ACCESS);
      else sys.removexattrat(dirFd, name, ACL_ACCESS);
    } catch (err) {
      if (!hasCode(err, 'ENODATA')) throw err;
    }
  }
  if (acl.default !== null) set(ACL_DEFAULT, acl.default);
  return true;
}

/**
 * Creates a new object. Over a whiteout it is built in work/ and swapped in with one rename (a new
 * directory there is made opaque, so what the whiteout hid stays hidden).
 */
export async function createObject(
  ctx: OverlayContext, parentPath: string, name: string, obj: NewObject, caller: Caller,
): Promise<{ node: OverlayNode; fd: number }> {
  const path = joinPath(parentPath, name);
  checkName(name, obj.kind === 'dir' ? 'mkdir' : 'create', where(path));
  const work = requireWork(ctx, obj.kind === 'dir' ? 'mkdir' : 'create', path);
  const parent = currentNode(ctx, parentPath);
  if (!parent.isDir) throw new OverlayError('ENOTDIR', 'create', where(path));
  if (existing(ctx, parent, name) !== null) throw new OverlayError('EEXIST', obj.kind === 'dir' ? 'mkdir' : 'create', where(path));
  const upperParent = await copyUpDir(ctx, parentPath);
  const dirFd = ctx.stack.upper!.dirFd(parentPath);
  const { uid, gid, inheritSgid } = ownerFor(upperParent.top.stat, caller);
  const acl = caller.umask === undefined || obj.kind === 'symlink' ? null : inheritedAcl(dirFd, obj, caller.umask);
  if (acl !== null && obj.kind !== 'symlink') obj = { ...obj, mode: acl.mode };
  let fd = -1;
  let stat: sys.Stat | null = null; // a new file's current stat, when makeObject had it
  if (upperState(ctx, parentPath, name) === 'whiteout') {
    const tmp = work.tempName();
    try {
      ({ fd, stat } = makeObject(work.fd, tmp, obj, uid, gid, inheritSgid));
      if (acl !== null && writeAcl(work.fd, tmp, fd, acl)) stat = null;
      if (obj.kind === 'dir') {
        setOpaque(ctx, work.fd, tmp);
        sys.renameat2(work.fd, tmp, dirFd, name, RENAME.EXCHANGE);
        sys.unlinkat(work.fd, tmp); // the whiteout, now in work/
      } else {
        sys.renameat2(work.fd, tmp, dirFd, name, 0);
      }
    } catch (err) {
      if (fd >= 0) sys.close(fd);
      try {
        sys.unlinkat(work.fd, tmp, obj.kind === 'dir' ? AT.REMOVEDIR : 0);
      } catch {
        /* not created, or removed at the next open */
      }
      throw err;
    }
  } else {
    // A file from the pool when there is one (O_APPEND opens are left to makeObject: the fd is theirs).
    let placed: { fd: number; stat: sys.Stat | null } | null = null;
    if (obj.kind === 'file' && (obj.flags & O.APPEND) === 0) {
      const pooled = work.pool.take();
      if (pooled !== null) placed = placePooledFile(work, pooled, dirFd, name, obj.mode & 0o7777, uid, gid);
      if (placed !== null) ctx.stats.pooledCreates++;
    }
    ({ fd, stat } = placed ?? makeObject(dirFd, name, obj, uid, gid, inheritSgid));
    if (acl !== null && writeAcl(dirFd, name, fd, acl)) stat = null;
  }
  // The parent's index first: the node is read again through it.
  invalidateListing(ctx, parentPath);
  invalidate(ctx, path);
  // A new file is its upper object alone (nothing below shows through a non-directory), with no
  // overlay xattrs yet: no lookup needed. Directories are looked up (their lower stack, markers).
  if (obj.kind === 'file') return { node: newUpperObject(ctx, currentNode(ctx, parentPath), name, stat ?? sys.fstat(fd)), fd };
  return { node: currentNode(ctx, path), fd };
}

/** A hard link: the source is copied up (metadata is enough), then linked in the upper. */
export async function link(ctx: OverlayContext, srcPath: string, parentPath: string, name: string): Promise<OverlayNode> {
  const path = joinPath(parentPath, name);
  checkName(name, 'link', where(path));
  const work = requireWork(ctx, 'link', path);
  const src = currentNode(ctx, srcPath);
  const parent = currentNode(ctx, parentPath);
  if (!parent.isDir) throw new OverlayError('ENOTDIR', 'link', where(path));
  if (existing(ctx, parent, name) !== null) throw new OverlayError('EEXIST', 'link', where(path));
  if (src.isDir) throw new OverlayError('EPERM', 'link', where(srcPath)); // after EEXIST, as the VFS checks
  // With the data: a metacopy upper under another name would find no lower data (no redirect is written).
  await copyUp(ctx, srcPath, true);
  await copyUpDir(ctx, parentPath);
  const s = upperParentOf(ctx, srcPath);
  const dirFd = ctx.stack.upper!.dirFd(parentPath);
  if (upperState(ctx, parentPath, name) === 'whiteout') {
    const tmp = work.tempName();
    sys.linkat(s.dirFd, s.name, work.fd, tmp, 0);
    try {
      sys.renameat2(work.fd, tmp, dirFd, name, 0);
    } catch (err) {
      sys.unlinkat(work.fd, tmp);
      throw err;
    }
  } else {
    sys.linkat(s.dirFd, s.name, dirFd, name, 0);
  }
  invalidateListing(ctx, parentPath);
  invalidate(ctx, srcPath);
  invalidate(ctx, path);
  const linked = currentNode(ctx, path);
  adjustLinkCount(ctx, linked, +1);
  return linked;
}

function isMergedEmpty(ctx: OverlayContext, dir: OverlayNode): boolean {
  return listDirectory(ctx, dir, 0).length === 2;
}

/** unlink and rmdir: the name goes; a whiteout takes its place where a lower layer still has it. */
export async function remove(ctx: OverlayContext, parentPath: string, name: string, dir: boolean): Promise<void> {
  const syscall = dir ? 'rmdir' : 'unlink';
  const path = joinPath(parentPath, name);
  checkName(name, syscall, where(path));
  const work = requireWork(ctx, syscall, path);
  const parent = currentNode(ctx, parentPath);
  const node = existing(ctx, parent, name);
  if (node === null) throw new OverlayError('ENOENT', syscall, where(path));
  if (dir && !node.isDir) throw new OverlayError('ENOTDIR', syscall, where(path));
  if (!dir && node.isDir) throw new OverlayError('EISDIR', syscall, where(path));
  if (dir && !isMergedEmpty(ctx, node)) throw new OverlayError('ENOTEMPTY', syscall, where(path));
  const needsWhiteout = lowerHasName(ctx, parent, name);
  if (!dir) adjustLinkCount(ctx, node, -1);
  await copyUpDir(ctx, parentPath);
  const dirFd = ctx.stack.upper!.dirFd(parentPath);
  if (node.top.layer.isUpper) {
    if (needsWhiteout) replaceWithWhiteout(ctx, work, dirFd, name, parentPath);
    else removeUpper(work, dirFd, name, dir);
  } else {
    writeWhiteout(ctx, work, dirFd, name, () => markXwhiteouts(ctx, parentPath));
  }
  invalidateListing(ctx, parentPath);
  if (dir) forgetTree(ctx, path);
  else invalidate(ctx, path);
}

export interface RenameFlags {
  noReplace?: boolean;
  exchange?: boolean;
}

/**
 * rename(2) and renameat2 NOREPLACE / EXCHANGE, never EXDEV: a lower or merged directory is copied
 * up (without its contents) and moved with an `overlay.redirect` naming where its lower part lives,
 * as the kernel's redirect_dir does; a pure upper directory moved over a place a lower layer holds
 * is made opaque; the old name gets a whiteout where a lower layer still has it.
 */
export async function rename(ctx: OverlayContext, oldParentPath: string, oldName: string, newParentPath: string, newName: string, flags: RenameFlags = {}): Promise<void> {
  const oldPath = joinPath(oldParentPath, oldName);
  const newPath = joinPath(newParentPath, newName);
  checkName(oldName, 'rename', where(oldPath));
  checkName(newName, 'rename', where(newPath));
  if (flags.noReplace && flags.exchange) throw new OverlayError('EINVAL', 'rename', where(oldPath));
  const work = requireWork(ctx, 'rename', oldPath);
  // Both parents are walked, the old one first (do_renameat2): a file as the old parent is
  // ENOTDIR even when the new parent does not exist.
  const oldParent = currentNode(ctx, oldParentPath);
  if (!oldParent.isDir) throw new OverlayError('ENOTDIR', 'rename', where(oldPath));
  const newParent = currentNode(ctx, newParentPath);
  if (!newParent.isDir) throw new OverlayError('ENOTDIR', 'rename', where(newPath));
  const src = existing(ctx, oldParent, oldName);
  if (src === null) throw new OverlayError('ENOENT', 'rename', where(oldPath));
  const dst = existing(ctx, newParent, newName);
  // In the VFS's order (do_renameat2, then vfs_rename), before overlayfs sees the rename.
  if (flags.noReplace && dst !== null) throw new OverlayError('EEXIST', 'rename', where(newPath));
  if (flags.exchange && dst === null) throw new OverlayError('ENOENT', 'rename', where(newPath));
  if (newPath.startsWith(oldPath + '/')) throw new OverlayError('EINVAL', 'rename', where(oldPath));
  // The target an ancestor of the source: ENOTEMPTY, or EINVAL for an exchange.
  if (oldPath.startsWith(newPath + '/')) throw new OverlayError(flags.exchange ? 'EINVAL' : 'ENOTEMPTY', 'rename', where(newPath));
  if (oldPath === newPath) return;
  if (dst !== null && !src.isDir && !dst.isDir && sameObject(src, dst)) return; // hard links of one file: nothing to do
  if (!flags.exchange && dst !== null) {
    if (src.isDir && !dst.isDir) throw new OverlayError('ENOTDIR', 'rename', where(newPath));
    if (!src.isDir && dst.isDir) throw new OverlayError('EISDIR', 'rename', where(newPath));
    if (dst.isDir && !isMergedEmpty(ctx, dst)) throw new OverlayError('ENOTEMPTY', 'rename', where(newPath));
  }

  const oldNeedsWhiteout = !flags.exchange && lowerHasName(ctx, oldParent, oldName);
  const newLowerHas = lowerHasName(ctx, newParent, newName);
  // Files move with their data: a metacopy upper under another name would find no lower data.
  const upSrc = await copyUp(ctx, oldPath, true);
  await copyUpDir(ctx, newParentPath);
  const upDst = flags.exchange ? await copyUp(ctx, newPath, true) : null;
  const oldFd = ctx.stack.upper!.dirFd(oldParentPath);
  const newFd = ctx.stack.upper!.dirFd(newParentPath);

  const samedir = oldParentPath === newParentPath;
  if (src.isDir) prepareMovedDir(ctx, upSrc, oldPath, samedir, newLowerHas);
  if (upDst !== null && upDst.isDir) prepareMovedDir(ctx, upDst, newPath, samedir, lowerHasName(ctx, oldParent, oldName));

  if (flags.exchange) {
    sys.renameat2(oldFd, oldName, newFd, newName, RENAME.EXCHANGE);
  } else {
    const target = upperState(ctx, newParentPath, newName);
    if (target === 'object' && dst !== null && dst.isDir) clearUpperDir(ctx, work, newFd, newName);
    if (target === 'whiteout' && src.isDir) {
      // A directory cannot replace a non-directory: swap it with the whiteout instead.
      sys.renameat2(oldFd, oldName, newFd, newName, RENAME.EXCHANGE);
      if (!oldNeedsWhiteout) sys.unlinkat(oldFd, oldName);
    } else {
      moveWithWhiteout(ctx, work, oldFd, oldName, newFd, newName, oldNeedsWhiteout, oldParentPath);
    }
  }
  // The moved nodes keep their identity; what is below a moved directory is reached through it.
  renamed(ctx, currentNode(ctx, oldParentPath), oldName, currentNode(ctx, newParentPath), newName, flags.exchange === true);
}

function sameObject(a: OverlayNode, b: OverlayNode): boolean {
  return a.top.layer === b.top.layer && a.top.stat.ino === b.top.stat.ino && a.top.stat.dev === b.top.stat.dev;
}

/**
 * Before a directory moves: one with lower layers gets a redirect to where they are, as the kernel's
 * ovl_set_redirect writes it: within its directory the old name (relative), to another directory the
 * lower path from the root (absolute; one the filesystem cannot store is EXDEV, as the kernel answers
 * past redirect_max). A relative redirect already there stays for a move within the directory; an
 * absolute one stays always. A pure upper directory going where a lower layer holds the name becomes
 * opaque.
 */
function prepareMovedDir(ctx: OverlayContext, node: OverlayNode, path: string, samedir: boolean, targetHasLower: boolean): void {
  const { dirFd, name } = upperParentOf(ctx, path);
  const hasLower = node.entries.some((e) => !e.layer.isUpper);
  if (hasLower) {
    const had = sys.getxattrat(dirFd, name, ctx.xattrs.redirect)?.toString('utf8') ?? null;
    if (had !== null && (had.startsWith('/') || samedir)) return;
    const lowerPath = node.entries[1]?.path ?? path;
    // No redirect yet: its lower directories are found by its name in the parent's (lookup.ts).
    const redirect = samedir && had === null ? splitPath(lowerPath).name : '/' + lowerPath;
    try {
      sys.setxattrat(dirFd, name, ctx.xattrs.redirect, Buffer.from(redirect));
    } catch (err) {
      if (hasCode(err, 'ENOSPC', 'E2BIG', 'ERANGE')) throw new OverlayError('EXDEV', 'rename', where(path), 'its redirect is too long to store');
      throw err;
    }
  } else if (targetHasLower) {
    setOpaque(ctx, dirFd, name);
  }
}

/** Empties an upper directory that is empty in the merged view but still holds whiteouts. */
function clearUpperDir(ctx: OverlayContext, work: WorkDir, dirFd: number, name: string): void {
  const fd = sys.openBeneath(dirFd, name, O.PATH | O.DIRECTORY);
  let empty: boolean;
  try {
    empty = sys.readdir(fd).names.length === 0;
  } finally {
    sys.close(fd);
  }
  if (empty) return;
  const tmp = work.tempName();
  sys.mkdirat(work.fd, tmp, 0o700);
  setOpaque(ctx, work.fd, tmp);
  sys.renameat2(work.fd, tmp, dirFd, name, RENAME.EXCHANGE);
  removeUpper(work, work.fd, tmp, true);
}

/** rename, leaving a whiteout at the old name when asked: RENAME_WHITEOUT where the fs has it. */
function moveWithWhiteout(ctx: OverlayContext, work: WorkDir, oldFd: number, oldName: string, newFd: number, newName: string, whiteout: boolean, oldParentPath: string): void {
  if (!whiteout) {
    sys.renameat2(oldFd, oldName, newFd, newName, 0);
    return;
  }
  if (work.renameWhiteout !== false && work.canMknodWhiteout()) {
    try {
      sys.renameat2(oldFd, oldName, newFd, newName, RENAME.WHITEOUT);
      work.renameWhiteout = true;
      return;
    } catch (err) {
      if (!['EINVAL', 'EOPNOTSUPP'].includes((err as { code?: string }).code ?? '')) throw err;
      work.renameWhiteout = false;
    }
  }
  sys.renameat2(oldFd, oldName, newFd, newName, 0);
  writeWhiteout(ctx, work, oldFd, oldName, () => markXwhiteouts(ctx, oldParentPath));
}
