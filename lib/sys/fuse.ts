/**
 * /dev/fuse transport syscalls: open, mount(2)/umount2(2), request readers, reply writes and the
 * passthrough ioctls (FUSE_DEV_IOC_BACKING_OPEN/CLOSE). Failures throw SysError, except the reply
 * writes, which return -errno (ENOENT there means the request was interrupted: not fatal).
 */
import * as fs from 'fs';
import * as path from 'path';
import { native, nativeGroup, NativeReaderHandle } from './native';
import { check, SysError } from './errors';

export const MNT = nativeGroup('MNT');
export const MS = nativeGroup('MS');

/** open /dev/fuse O_RDWR|O_CLOEXEC|O_NONBLOCK */
export function fuseOpen(): number {
  return check(native.fuseOpen(), 'open', '/dev/fuse');
}

/** mount(2); data like 'fd=N,rootmode=40000,user_id=0,group_id=0,allow_other' */
export function fuseMount(source: string, target: string, fstype: string, flags: number, data: string): void {
  check(native.fuseMount(source, target, fstype, flags, data), 'mount', target);
}

/**
 * The fusermount3 program: $LAYERFS_FUSERMOUNT, else the first fusermount3 (then fusermount) on
 * PATH or in /usr/bin, /bin. Throws ENOENT when there is none.
 */
export function findFusermount(): string {
  const forced = process.env.LAYERFS_FUSERMOUNT;
  if (forced) return forced;
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), '/usr/bin', '/bin'];
  for (const name of ['fusermount3', 'fusermount']) {
    for (const dir of dirs) {
      const p = path.join(dir, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch { /* next */ }
    }
  }
  const err = new SysError(2, 'exec', 'fusermount3');
  err.message = 'ENOENT: fusermount3 not found (install fuse3, or set LAYERFS_FUSERMOUNT)';
  throw err;
}

/**
 * Unprivileged mount: runs fusermount3 (setuid root), which opens /dev/fuse, mounts it on
 * `mountpoint` with `opts` (fsname=,subtype=,allow_other,default_permissions,ro,max_read=...;
 * it adds rootmode/user_id/group_id, nosuid and nodev itself) and hands the fd back over a socket
 * (_FUSE_COMMFD, as libfuse does). Returns the fd (O_NONBLOCK|O_CLOEXEC), mounted already.
 * Throws a SysError whose message carries fusermount3's own error line.
 */
export function fuseMountFusermount(mountpoint: string, opts: string, program = findFusermount()): number {
  const r = native.fuseMountFusermount(program, mountpoint, opts);
  if (r.fd >= 0) return r.fd;
  const err = new SysError(-r.fd, 'fusermount3', mountpoint);
  const said = r.stderr.trim().split('\n').filter((l) => l !== '').pop();
  if (said !== undefined) err.message = `${err.code}: ${said}`;
  throw err;
}

/** `fusermount3 -u [-z] mountpoint` (unprivileged unmount); throws with fusermount3's message on failure. */
export function fusermountUnmount(mountpoint: string, lazy = false, program = findFusermount()): void {
  // child_process loads on demand: loading it would add to every mount's start-up otherwise
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(program, ['-u', ...(lazy ? ['-z'] : []), '--', mountpoint], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const said = (r.stderr ?? '').trim().split('\n').pop() ?? '';
    const code = /not mounted|not found in/.test(said) ? 'EINVAL' : /busy/i.test(said) ? 'EBUSY' : /No such file/.test(said) ? 'ENOENT' : 'EPERM';
    const errno = { EINVAL: 22, EBUSY: 16, ENOENT: 2, EPERM: 1 }[code];
    const err = new SysError(errno, 'fusermount3 -u', mountpoint);
    if (said !== '') err.message = `${code}: ${said}`;
    throw err;
  }
}

/** umount2(2); flags from MNT (DETACH, FORCE, EXPIRE, UMOUNT_NOFOLLOW) */
export function umount2(target: string, flags = 0): void {
  check(native.umount2(target, flags), 'umount2', target);
}

/** write one reply/notification; returns bytes written or -errno (never throws) */
export function fuseWrite(fd: number, buf: Uint8Array): number {
  return native.fuseWrite(fd, buf);
}

/** writev one reply/notification from up to 64 pieces; returns bytes written or -errno (never throws) */
export function fuseWritev(fd: number, bufs: Uint8Array[]): number {
  return native.fuseWritev(fd, bufs);
}

/**
 * register fileFd for kernel passthrough; returns the backing id (needs CAP_SYS_ADMIN). The kernel
 * writes the file with this thread's credentials less CAP_FSETID (dropped around the ioctl): a
 * passthrough write clears set-ID bits as an unprivileged write does.
 */
export function fuseBackingOpen(devFd: number, fileFd: number): number {
  return check(native.fuseBackingOpen(devFd, fileFd), 'ioctl(FUSE_DEV_IOC_BACKING_OPEN)');
}

export function fuseBackingClose(devFd: number, backingId: number): void {
  check(native.fuseBackingClose(devFd, backingId), 'ioctl(FUSE_DEV_IOC_BACKING_CLOSE)');
}

/**
 * How requests reach JS (both through uv_poll on the JS thread):
 * - 'copy': each request copied into a fresh Buffer (safe to keep).
 * - 'view': the SAME Buffer (of bufSize bytes) for every request: valid only during the callback;
 *   copy whatever must outlive it.
 */
export type FuseReaderMode = 'copy' | 'view';

/**
 * Called with (buf, len) per request (the request is buf[0, len)); once with (null, 0) when the
 * filesystem was unmounted (ENODEV), or (null, -errno) on another fatal read error. The reader has
 * then stopped itself.
 */
export type FuseReaderCallback = (buf: Buffer | null, len: number) => void;

export interface FuseReader { readonly handle: NativeReaderHandle; readonly mode: FuseReaderMode }

/** Start after mount(2): until the fd is attached to a mount, read(2) fails with EPERM (fatal to the reader). */
export function fuseStartReader(fd: number, bufSize: number, cb: FuseReaderCallback,
  mode: FuseReaderMode = 'copy'): FuseReader {
  const h = native.fuseStartReader(fd, bufSize, cb, mode);
  if (typeof h === 'number') check(h, 'fuse reader');
  return { handle: h as NativeReaderHandle, mode };
}

/** stop a reader (idempotent; a no-op once it ended by itself) */
export function fuseStopReader(reader: FuseReader): void {
  native.fuseStopReader(reader.handle);
}
