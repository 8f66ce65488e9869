/** lib/sys: the syscall layer. The only importer of native-bindings (through ./native). */
export { SysError, check, isSysError, errnoCode, codeErrno, errnoMessage, setErrorStacks, errnoErrorStackLimit } from './errors';
export { O, AT, RESOLVE, RENAME, S, DT, UTIME, XATTR, SEEK, FALLOC, LOCK } from './constants';
export type { Stat } from './stat';
export { statx, tryStatx, fstat, makedev, major, minor } from './stat';
export {
  openat, openat2, openBeneath, _openBeneathWalk, _openat2Available, close, dup2, readlinkat, mkdirat, mknodat,
  symlinkat, linkat, unlinkat, renameat2, fchownat, fchmodat, fchmod, fchown, utimensat,
} from './path-ops';
export type { DirEntries } from './dir';
export { readdir } from './dir';
export {
  getxattrat, setxattrat, listxattrat, removexattrat, fgetxattr, fsetxattr, flistxattr, fremovexattr, _xattrAtMode,
} from './xattr';
export type { StatFs } from './data';
export {
  pread, pwrite, copyFileRange, copyFileRangeAsync, ficlone, ficloneAsync, ficloneRange, lseek, fallocate,
  fallocateAsync, fsync, fdatasync, syncfs, fsyncAsync, fdatasyncAsync, syncfsAsync, ftruncate, fstatfs, createFilesAsync,
  tryFlock, flockAsync, unflock,
} from './data';
export type { FuseReader, FuseReaderMode, FuseReaderCallback } from './fuse';
export {
  MNT, MS, fuseOpen, fuseMount, umount2, fuseMountFusermount, fusermountUnmount, findFusermount, fuseWrite, fuseWritev, fuseBackingOpen, fuseBackingClose,
  fuseStartReader, fuseStopReader,
} from './fuse';
