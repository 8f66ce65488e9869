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

/**
 * A value read from the Float64Array as a small integer when it is one. V8 keeps a field that only
 * ever held small integers inline, but boxes every double in a heap number of its own: a Stat of
 * 23 doubles cost ~580 bytes, and the engine holds one per cached node (22k after a walk of /usr).
 */
const int = (v: number): number => ((v | 0) === v ? v | 0 : v);

function toStat(a: Float64Array): Stat {
  return {
    dev: int(a[F.DEV]), ino: int(a[F.INO]), mode: int(a[F.MODE]), nlink: int(a[F.NLINK]), uid: int(a[F.UID]), gid: int(a[F.GID]),
    rdev: int(a[F.RDEV]), rdevMajor: int(a[F.RDEV_MAJOR]), rdevMinor: int(a[F.RDEV_MINOR]),
    devMajor: int(a[F.DEV_MAJOR]), devMinor: int(a[F.DEV_MINOR]),
    size: int(a[F.SIZE]), blocks: int(a[F.BLOCKS]), blksize: int(a[F.BLKSIZE]),
    atimeSec: int(a[F.ATIME_SEC]), atimeNsec: int(a[F.ATIME_NSEC]),
    mtimeSec: int(a[F.MTIME_SEC]), mtimeNsec: int(a[F.MTIME_NSEC]),
    ctimeSec: int(a[F.CTIME_SEC]), ctimeNsec: int(a[F.CTIME_NSEC]),
    btimeSec: int(a[F.BTIME_SEC]), btimeNsec: int(a[F.BTIME_NSEC]),
    mntId: int(a[F.MNT_ID]),
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
