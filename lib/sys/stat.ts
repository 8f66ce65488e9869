/** statx / fstat with nanosecond times, and makedev helpers. */
import { native } from './native';
import { check, SysError } from './errors';
import { AT } from './constants';
import { constants as osConstants } from 'os';

const ENOENT = osConstants.errno.ENOENT;
const ENOTDIR = osConstants.errno.ENOTDIR;

export interface Stat {
  /** makedev(devMajor, devMinor) */
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** makedev(rdevMajor, rdevMinor) */
  rdev: number;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
  size: number;
  blocks: number;
  blksize: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  /** 0/0 when the filesystem does not report a birth time */
  btimeSec: number;
  btimeNsec: number;
  /** 0 when unknown (statx unavailable) */
  mntId: number;
}

/** Layout of the Float64Array filled by the addon (mirrors LFS_ST_* in native-bindings/src/common.h). */
const enum F {
  DEV, INO, MODE, NLINK, UID, GID, RDEV, RDEV_MAJOR, RDEV_MINOR, DEV_MAJOR, DEV_MINOR,
  SIZE, BLOCKS, BLKSIZE, ATIME_SEC, ATIME_NSEC, MTIME_SEC, MTIME_NSEC, CTIME_SEC, CTIME_NSEC,
  BTIME_SEC, BTIME_NSEC, MNT_ID, COUNT,
}

// Sync calls only: one shared scratch array is safe (no re-entrancy between fill and read).
const scratch = new Float64Array(F.COUNT);

function toStat(a: Float64Array): Stat {
  return {
    dev: a[F.DEV], ino: a[F.INO], mode: a[F.MODE], nlink: a[F.NLINK], uid: a[F.UID], gid: a[F.GID],
    rdev: a[F.RDEV], rdevMajor: a[F.RDEV_MAJOR], rdevMinor: a[F.RDEV_MINOR],
    devMajor: a[F.DEV_MAJOR], devMinor: a[F.DEV_MINOR],
    size: a[F.SIZE], blocks: a[F.BLOCKS], blksize: a[F.BLKSIZE],
    atimeSec: a[F.ATIME_SEC], atimeNsec: a[F.ATIME_NSEC],
    mtimeSec: a[F.MTIME_SEC], mtimeNsec: a[F.MTIME_NSEC],
    ctimeSec: a[F.CTIME_SEC], ctimeNsec: a[F.CTIME_NSEC],
    btimeSec: a[F.BTIME_SEC], btimeNsec: a[F.BTIME_NSEC],
    mntId: a[F.MNT_ID],
  };
}

/** statx(2) (falls back to fstatat where statx is missing). Default: do not follow a final symlink. */
export function statx(dirfd: number, path: string, flags: number = AT.SYMLINK_NOFOLLOW): Stat {
  check(native.statx(dirfd, path, flags, scratch), 'statx', path);
  return toStat(scratch);
}

/** Like statx, but null for ENOENT / ENOTDIR; other errors throw. */
export function tryStatx(dirfd: number, path: string, flags: number = AT.SYMLINK_NOFOLLOW): Stat | null {
  const r = native.statx(dirfd, path, flags, scratch);
  if (r < 0) {
    if (r === -ENOENT || r === -ENOTDIR) return null;
    throw new SysError(-r, 'statx', path);
  }
  return toStat(scratch);
}

/** Stat of an open fd (O_PATH fds included; a symlink fd stats the symlink). */
export function fstat(fd: number): Stat {
  check(native.fstat(fd, scratch), 'fstat');
  return toStat(scratch);
}

export function makedev(major: number, minor: number): number {
  return native.makedev(major, minor);
}
export function major(dev: number): number {
  return native.major(dev);
}
export function minor(dev: number): number {
  return native.minor(dev);
}
