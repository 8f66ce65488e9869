/**
 * /dev/fuse transport syscalls: open, mount(2)/umount2(2), request readers, reply writes and the
 * passthrough ioctls (FUSE_DEV_IOC_BACKING_OPEN/CLOSE). Failures throw SysError, except the reply
 * writes, which return -errno (ENOENT there means the request was interrupted: not fatal).
 */
import { native, NativeReaderHandle } from './native';
import { check } from './errors';

export const MNT = native.MNT;
export const MS = native.MS;

/** open /dev/fuse O_RDWR|O_CLOEXEC|O_NONBLOCK */
export function fuseOpen(): number {
  return check(native.fuseOpen(), 'open', '/dev/fuse');
}

/** mount(2); data like 'fd=N,rootmode=40000,user_id=0,group_id=0,allow_other' */
export function fuseMount(source: string, target: string, fstype: string, flags: number, data: string): void {
  check(native.fuseMount(source, target, fstype, flags, data), 'mount', target);
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

/** register fileFd for kernel passthrough; returns the backing id (needs CAP_SYS_ADMIN) */
export function fuseBackingOpen(devFd: number, fileFd: number): number {
  return check(native.fuseBackingOpen(devFd, fileFd), 'ioctl(FUSE_DEV_IOC_BACKING_OPEN)');
}

export function fuseBackingClose(devFd: number, backingId: number): void {
  check(native.fuseBackingClose(devFd, backingId), 'ioctl(FUSE_DEV_IOC_BACKING_CLOSE)');
}

/**
 * How requests reach JS:
 * - 'copy': uv_poll on the JS thread, each request copied into a fresh Buffer (safe to keep).
 * - 'view': uv_poll on the JS thread, the SAME Buffer (of bufSize bytes) for every request: valid only
 *   during the callback; copy whatever must outlive it.
 * - 'thread': a blocking reader thread, handed over through a threadsafe function (copied Buffers).
 */
export type FuseReaderMode = 'copy' | 'view' | 'thread';

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
