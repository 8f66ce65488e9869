/** File data: positional I/O, copy_file_range, reflinks, holes, fallocate, sync, statfs, truncate. */
import * as fs from 'fs';
import { native } from './native';
import { check, fromNodeError } from './errors';

export interface StatFs {
  type: number; bsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; namelen: number; frsize: number; flags: number;
}

/** pread via Node's fs (enough there); errors become SysError. Returns bytes read. */
export function pread(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  try {
    return fs.readSync(fd, buf, off, len, pos);
  } catch (e) {
    throw fromNodeError(e, 'read');
  }
}

/** pwrite via Node's fs; errors become SysError. Returns bytes written. */
export function pwrite(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  try {
    return fs.writeSync(fd, buf, off, len, pos);
  } catch (e) {
    throw fromNodeError(e, 'write');
  }
}

/**
 * copy_file_range(2). offIn/offOut null means "use and advance the file offset". Returns bytes copied
 * (may be short; 0 at EOF).
 */
export function copyFileRange(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null,
  len: number, flags = 0): number {
  return check(native.copyFileRange(fdIn, offIn, fdOut, offOut, len, flags), 'copy_file_range');
}

export async function copyFileRangeAsync(fdIn: number, offIn: number | null, fdOut: number,
  offOut: number | null, len: number, flags = 0): Promise<number> {
  return check(await native.copyFileRangeAsync(fdIn, offIn, fdOut, offOut, len, flags), 'copy_file_range');
}

/**
 * Creates `count` empty files `${prefix}0` .. in `dirfd` on the addon's job threads (O_CREAT | O_EXCL |
 * O_NOFOLLOW, open read-write and close-on-exec). Resolves with each one's fd or -errno; it stops at
 * the first failure (the rest say -ECANCELED). The caller owns every fd it gets. Setting
 * `cancel[0]` (Atomics.store) stops it: it makes no more files and removes the ones it made
 * (all then say -ECANCELED).
 */
export function createFilesAsync(dirfd: number, prefix: string, count: number, mode: number, cancel?: Int32Array): Promise<number[]> {
  return native.createFilesAsync(dirfd, prefix, count, mode, cancel);
}

/** ioctl(FICLONE): share all of srcFd's extents (reflink). EOPNOTSUPP/EXDEV/EINVAL where unsupported. */
export function ficlone(destFd: number, srcFd: number): void {
  check(native.ficlone(destFd, srcFd), 'ioctl_ficlone');
}

export async function ficloneAsync(destFd: number, srcFd: number): Promise<void> {
  check(await native.ficloneAsync(destFd, srcFd), 'ioctl_ficlone');
}

export function ficloneRange(destFd: number, srcFd: number, srcOff: number, len: number, destOff: number): void {
  check(native.ficloneRange(destFd, srcFd, srcOff, len, destOff), 'ioctl_ficlonerange');
}

/** lseek(2), including SEEK.DATA / SEEK.HOLE. ENXIO (no more data) is thrown as a SysError. */
export function lseek(fd: number, offset: number, whence: number): number {
  return check(native.lseek(fd, offset, whence), 'lseek');
}

export function fallocate(fd: number, mode: number, offset: number, len: number): void {
  check(native.fallocate(fd, mode, offset, len), 'fallocate');
}

export async function fallocateAsync(fd: number, mode: number, offset: number, len: number): Promise<void> {
  check(await native.fallocateAsync(fd, mode, offset, len), 'fallocate');
}

export function fsync(fd: number): void {
  check(native.fsync(fd), 'fsync');
}
export function fdatasync(fd: number): void {
  check(native.fdatasync(fd), 'fdatasync');
}
export function syncfs(fd: number): void {
  check(native.syncfs(fd), 'syncfs');
}
export async function fsyncAsync(fd: number): Promise<void> {
  check(await native.fsyncAsync(fd), 'fsync');
}
export async function fdatasyncAsync(fd: number): Promise<void> {
  check(await native.fdatasyncAsync(fd), 'fdatasync');
}
export async function syncfsAsync(fd: number): Promise<void> {
  check(await native.syncfsAsync(fd), 'syncfs');
}

export function ftruncate(fd: number, len: number): void {
  check(native.ftruncate(fd, len), 'ftruncate');
}

const sfs = new Float64Array(10);
export function fstatfs(fd: number): StatFs {
  check(native.fstatfs(fd, sfs), 'fstatfs');
  return {
    type: sfs[0], bsize: sfs[1], blocks: sfs[2], bfree: sfs[3], bavail: sfs[4],
    files: sfs[5], ffree: sfs[6], namelen: sfs[7], frsize: sfs[8], flags: sfs[9],
  };
}

/**
 * flock(2) without waiting: true when taken, false when another open file holds a conflicting lock
 * (EWOULDBLOCK). The kernel drops the lock when the last fd of this open file closes, so a process
 * killed by SIGKILL leaves no stale lock. `op` is LOCK.SH or LOCK.EX (LOCK.NB is added here).
 */
export function tryFlock(fd: number, op: number): boolean {
  const r = native.flock(fd, op | native.LOCK.NB);
  if (r === -11 /* EWOULDBLOCK */) return false;
  check(r, 'flock');
  return true;
}

/** flock(2) that waits for the lock on one of the addon's job threads (the event loop runs on). */
export async function flockAsync(fd: number, op: number): Promise<void> {
  check(await native.flockAsync(fd, op & ~native.LOCK.NB), 'flock');
}

/** flock(fd, LOCK_UN). */
export function unflock(fd: number): void {
  check(native.flock(fd, native.LOCK.UN), 'flock');
}
