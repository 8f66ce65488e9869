/**
 * The only module that loads the native addon (native-bindings/build/Release/layerfs_native.node).
 * Every function here is a thin wrapper of one system call and returns its result or -errno;
 * the typed wrappers in the sibling modules turn -errno into a SysError.
 */
import * as fs from 'fs';
import * as path from 'path';

type Fd = number;
/** a result or -errno */
type Ret = number;

export interface NativeConstants {
  O: Readonly<Record<'RDONLY' | 'WRONLY' | 'RDWR' | 'CREAT' | 'EXCL' | 'TRUNC' | 'APPEND' | 'NOFOLLOW' | 'DIRECTORY'
    | 'PATH' | 'CLOEXEC' | 'TMPFILE' | 'NONBLOCK' | 'NOATIME' | 'DIRECT' | 'LARGEFILE' | 'ACCMODE', number>>;
  AT: Readonly<Record<'FDCWD' | 'SYMLINK_NOFOLLOW' | 'EMPTY_PATH' | 'REMOVEDIR' | 'SYMLINK_FOLLOW', number>>;
  RESOLVE: Readonly<Record<'BENEATH' | 'NO_SYMLINKS' | 'NO_MAGICLINKS' | 'NO_XDEV' | 'IN_ROOT', number>>;
  RENAME: Readonly<Record<'NOREPLACE' | 'EXCHANGE' | 'WHITEOUT', number>>;
  S: Readonly<Record<'IFMT' | 'IFREG' | 'IFDIR' | 'IFLNK' | 'IFCHR' | 'IFBLK' | 'IFIFO' | 'IFSOCK', number>>;
  DT: Readonly<Record<'UNKNOWN' | 'FIFO' | 'CHR' | 'DIR' | 'BLK' | 'REG' | 'LNK' | 'SOCK', number>>;
  UTIME: Readonly<Record<'NOW' | 'OMIT', number>>;
  XATTR: Readonly<Record<'CREATE' | 'REPLACE', number>>;
  SEEK: Readonly<Record<'SET' | 'CUR' | 'END' | 'DATA' | 'HOLE', number>>;
  FALLOC: Readonly<Record<'KEEP_SIZE' | 'PUNCH_HOLE' | 'ZERO_RANGE' | 'COLLAPSE_RANGE' | 'INSERT_RANGE', number>>;
  LOCK: Readonly<Record<'SH' | 'EX' | 'UN' | 'NB', number>>;
}

export interface NativeDirEntries { names: string[]; types: Uint8Array; inos: Float64Array }

export interface NativeAddon extends NativeConstants {
  /** raised with every change of the addon's exports (addon.c) */
  ABI_VERSION: number;
  strerror(errno: number): string;
  // path_ops.c
  openat(dirfd: Fd, path: string, flags: number, mode?: number): Ret;
  openat2(dirfd: Fd, path: string, flags: number, mode: number, resolve: number): Ret;
  close(fd: Fd): Ret;
  dup2(oldfd: Fd, newfd: Fd): Ret;
  statx(dirfd: Fd, path: string, flags: number, out: Float64Array): Ret;
  fstat(fd: Fd, out: Float64Array): Ret;
  readlinkat(dirfd: Fd, path: string): string | Ret;
  mkdirat(dirfd: Fd, path: string, mode: number): Ret;
  mknodat(dirfd: Fd, path: string, mode: number, dev: number): Ret;
  makedev(major: number, minor: number): number;
  major(dev: number): number;
  minor(dev: number): number;
  symlinkat(target: string, dirfd: Fd, path: string): Ret;
  linkat(olddirfd: Fd, oldpath: string, newdirfd: Fd, newpath: string, flags: number): Ret;
  unlinkat(dirfd: Fd, path: string, flags: number): Ret;
  renameat2(olddirfd: Fd, oldpath: string, newdirfd: Fd, newpath: string, flags: number): Ret;
  fchownat(dirfd: Fd, path: string, uid: number, gid: number, flags: number): Ret;
  fchmodat(dirfd: Fd, path: string, mode: number, flags: number): Ret;
  fchmod(fd: Fd, mode: number): Ret;
  fchown(fd: Fd, uid: number, gid: number): Ret;
  utimensat(dirfd: Fd, path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number,
    flags: number): Ret;
  // beneath.c
  openBeneath(dirfd: Fd, path: string, flags: number, mode: number): Ret;
  _openBeneathWalk(dirfd: Fd, path: string, flags: number, mode: number): Ret;
  _openat2Available(): boolean;
  // xattr.c
  getxattrat(dirfd: Fd, path: string, name: string): Buffer | null | Ret;
  setxattrat(dirfd: Fd, path: string, name: string, value: Uint8Array, flags: number): Ret;
  listxattrat(dirfd: Fd, path: string): string[] | Ret;
  removexattrat(dirfd: Fd, path: string, name: string): Ret;
  fgetxattr(fd: Fd, name: string): Buffer | null | Ret;
  fsetxattr(fd: Fd, name: string, value: Uint8Array, flags: number): Ret;
  flistxattr(fd: Fd): string[] | Ret;
  fremovexattr(fd: Fd, name: string): Ret;
  _xattrAtMode(force?: 'syscall' | 'fallback' | 'auto'): 'syscall' | 'fallback';
  // data.c
  copyFileRange(fdIn: Fd, offIn: number | null, fdOut: Fd, offOut: number | null, len: number, flags: number): Ret;
  copyFileRangeAsync(fdIn: Fd, offIn: number | null, fdOut: Fd, offOut: number | null, len: number,
    flags: number): Promise<Ret>;
  ficlone(destFd: Fd, srcFd: Fd): Ret;
  ficloneAsync(destFd: Fd, srcFd: Fd): Promise<Ret>;
  ficloneRange(destFd: Fd, srcFd: Fd, srcOff: number, len: number, destOff: number): Ret;
  lseek(fd: Fd, offset: number, whence: number): Ret;
  fallocate(fd: Fd, mode: number, offset: number, len: number): Ret;
  fallocateAsync(fd: Fd, mode: number, offset: number, len: number): Promise<Ret>;
  fsync(fd: Fd): Ret;
  fdatasync(fd: Fd): Ret;
  syncfs(fd: Fd): Ret;
  fsyncAsync(fd: Fd): Promise<Ret>;
  fdatasyncAsync(fd: Fd): Promise<Ret>;
  syncfsAsync(fd: Fd): Promise<Ret>;
  createFilesAsync(dirfd: Fd, prefix: string, count: number, mode: number, cancel?: Int32Array): Promise<Ret[]>;
  ftruncate(fd: Fd, len: number): Ret;
  flock(fd: Fd, op: number): Ret;
  flockAsync(fd: Fd, op: number): Promise<Ret>;
  fstatfs(fd: Fd, out: Float64Array): Ret;
  // dir.c
  readdir(dirfd: Fd): NativeDirEntries | Ret;
  // fuse_dev.c
  fuseOpen(): Ret;
  fuseMount(source: string, target: string, fstype: string, flags: number, data: string): Ret;
  umount2(target: string, flags: number): Ret;
  fuseMountFusermount(program: string, mountpoint: string, opts: string): { fd: Ret; stderr: string };
  fuseWrite(fd: Fd, buf: Uint8Array): Ret;
  fuseWritev(fd: Fd, bufs: Uint8Array[]): Ret;
  fuseBackingOpen(devFd: Fd, fileFd: Fd): Ret;
  fuseBackingClose(devFd: Fd, backingId: number): Ret;
  fuseStartReader(fd: Fd, bufSize: number, cb: (buf: Buffer | null, len: number) => void,
    mode?: 'copy' | 'view'): NativeReaderHandle | Ret;
  fuseStopReader(handle: NativeReaderHandle): void;
  MNT: Readonly<Record<'FORCE' | 'DETACH' | 'EXPIRE' | 'UMOUNT_NOFOLLOW', number>>;
  MS: Readonly<Record<'RDONLY' | 'NOSUID' | 'NODEV' | 'NOEXEC' | 'NOATIME' | 'NODIRATIME' | 'DIRSYNC'
    | 'SYNCHRONOUS' | 'LAZYTIME', number>>;
}

/** opaque handle of a running /dev/fuse reader */
export type NativeReaderHandle = { readonly __fuseReader: unique symbol };

const ADDON_REL = path.join('native-bindings', 'build', 'Release', 'layerfs_native.node');

/** Walk up from this file (lib/sys or dist/lib/sys) to the package root holding native-bindings/. */
function findAddon(): string | null {
  const override = process.env.LAYERFS_NATIVE_ADDON;
  if (override) return override;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'native-bindings')) && fs.existsSync(path.join(dir, 'package.json'))) {
      const candidate = path.join(dir, ADDON_REL);
      return fs.existsSync(candidate) ? candidate : null;
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The addon's exports these sources expect (LFS_ABI_VERSION in native-bindings/src/addon.c). */
const ABI_VERSION = 2;

function load(): NativeAddon {
  const file = findAddon();
  if (!file) throw new Error('layerfs native addon not built: run npm install');
  let addon: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
  } catch (e) {
    const err = new Error(`layerfs native addon not built: run npm install (loading ${file} failed: ${(e as Error).message})`);
    (err as Error & { cause?: unknown }).cause = e;
    throw err;
  }
  if (addon.ABI_VERSION !== ABI_VERSION) {
    throw new Error(`layerfs native addon is out of date (${file} has ABI ${addon.ABI_VERSION ?? 1}, these sources need ${ABI_VERSION}): run npm run build:native`);
  }
  return addon;
}

/**
 * Copies every export of the addon (functions and constant groups) onto `target`, loading it on first
 * use: importing layerfs does not load the addon, so `import { ConfigError } from 'layerfs'` works
 * where it is not built. After the first access the properties are plain own properties of `target`
 * (the lazy prototype is never reached again), so calls cost what a direct property access costs.
 */
function lazyObject<T extends object>(pick: () => T): T {
  const loader = new Proxy({}, {
    get(_t, key, receiver: T) {
      const source = pick();
      for (const name of Object.getOwnPropertyNames(source)) {
        Object.defineProperty(receiver, name, { value: (source as Record<string, unknown>)[name], enumerable: true });
      }
      return (source as Record<PropertyKey, unknown>)[key];
    },
  });
  return Object.create(loader) as T;
}

let addon: NativeAddon | null = null;
/** The addon itself, loaded now if it is not yet. */
export function loadNative(): NativeAddon {
  return (addon ??= load());
}

export const native: NativeAddon = lazyObject(loadNative);

/** A constant group of the addon (O, AT, S, ...), read when first used. */
export function nativeGroup<K extends keyof NativeConstants | 'MNT' | 'MS' | 'LOCK'>(name: K): NativeAddon[K] {
  return lazyObject(() => loadNative()[name] as object) as NativeAddon[K];
}
