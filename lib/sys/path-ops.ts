/** Opening files (openat, openat2, openBeneath), names and links, ownership, modes and times. */
import { native } from './native';
import { check } from './errors';
import { AT } from './constants';

/** openat(2). The fd is always close-on-exec. Returns the fd. */
export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(native.openat(dirfd, path, flags, mode), 'openat', path);
}

/** openat2(2) with struct open_how { flags, mode, resolve }. The fd is always close-on-exec. */
export function openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number {
  return check(native.openat2(dirfd, path, flags, mode, resolve), 'openat2', path);
}

/**
 * Open `path` strictly below `dirfd`, never following any symlink (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
 * RESOLVE_NO_MAGICLINKS). Absolute paths and escaping '..' fail with EXDEV, symlink components with ELOOP.
 * Where openat2 is missing, an O_NOFOLLOW component walk in C gives the same guarantees (it refuses
 * every '..' component). `mode` is ignored unless O_CREAT/O_TMPFILE is set.
 */
export function openBeneath(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(native.openBeneath(dirfd, path, flags, mode), 'openat2', path);
}

/** @internal the component-walk fallback of openBeneath, exported for tests */
export function _openBeneathWalk(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(native._openBeneathWalk(dirfd, path, flags, mode), 'openat', path);
}

/** @internal whether the kernel has openat2 (probes once) */
export function _openat2Available(): boolean {
  return native._openat2Available();
}

export function close(fd: number): void {
  check(native.close(fd), 'close');
}

/** dup2(2): makes `newfd` a copy of `oldfd`. */
export function dup2(oldfd: number, newfd: number): void {
  check(native.dup2(oldfd, newfd), 'dup2');
}

export function readlinkat(dirfd: number, path: string): string {
  const r = native.readlinkat(dirfd, path);
  if (typeof r === 'number') check(r, 'readlinkat', path);
  return r as string;
}

export function mkdirat(dirfd: number, path: string, mode: number): void {
  check(native.mkdirat(dirfd, path, mode), 'mkdirat', path);
}

/** mknodat(2); `dev` is makedev()-combined (use makedev(0, 0) for a whiteout). */
export function mknodat(dirfd: number, path: string, mode: number, dev: number): void {
  check(native.mknodat(dirfd, path, mode, dev), 'mknodat', path);
}

export function symlinkat(target: string, dirfd: number, path: string): void {
  check(native.symlinkat(target, dirfd, path), 'symlinkat', target, path);
}

/** linkat(2). With AT.EMPTY_PATH and oldpath '' links an open fd (e.g. an O_TMPFILE) into the tree. */
export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags = 0): void {
  check(native.linkat(olddirfd, oldpath, newdirfd, newpath, flags), 'linkat', oldpath, newpath);
}

export function unlinkat(dirfd: number, path: string, flags = 0): void {
  check(native.unlinkat(dirfd, path, flags), 'unlinkat', path);
}

/** renameat2(2): flags RENAME.NOREPLACE / EXCHANGE / WHITEOUT. */
export function renameat2(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags = 0): void {
  check(native.renameat2(olddirfd, oldpath, newdirfd, newpath, flags), 'renameat2', oldpath, newpath);
}

export function fchownat(dirfd: number, path: string, uid: number, gid: number,
  flags: number = AT.SYMLINK_NOFOLLOW): void {
  check(native.fchownat(dirfd, path, uid, gid, flags), 'fchownat', path);
}

export function fchmodat(dirfd: number, path: string, mode: number, flags = 0): void {
  check(native.fchmodat(dirfd, path, mode, flags), 'fchmodat', path);
}

export function fchmod(fd: number, mode: number): void {
  check(native.fchmod(fd, mode), 'fchmod');
}

export function fchown(fd: number, uid: number, gid: number): void {
  check(native.fchown(fd, uid, gid), 'fchown');
}

/**
 * utimensat(2) with nanosecond precision. nsec may be UTIME.NOW / UTIME.OMIT. Default flags do not follow a
 * final symlink (works on symlinks); path '' with AT.EMPTY_PATH targets dirfd itself.
 */
export function utimensat(dirfd: number, path: string, atimeSec: number, atimeNsec: number, mtimeSec: number,
  mtimeNsec: number, flags: number = AT.SYMLINK_NOFOLLOW): void {
  check(native.utimensat(dirfd, path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags), 'utimensat', path);
}
