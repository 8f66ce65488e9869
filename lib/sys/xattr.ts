/** Extended attributes: *at forms never follow a final symlink; f* forms for open fds. */
import { native } from './native';
import { check } from './errors';

/** Value of `name`, or null if the attribute does not exist (ENODATA). Never follows a final symlink. */
export function getxattrat(dirfd: number, path: string, name: string): Buffer | null {
  const r = native.getxattrat(dirfd, path, name);
  if (typeof r === 'number') check(r, 'getxattrat', path);
  return r as Buffer | null;
}

/** flags: 0, XATTR.CREATE (EEXIST if present) or XATTR.REPLACE (ENODATA if absent). */
export function setxattrat(dirfd: number, path: string, name: string, value: Uint8Array, flags = 0): void {
  check(native.setxattrat(dirfd, path, name, value, flags), 'setxattrat', path);
}

export function listxattrat(dirfd: number, path: string): string[] {
  const r = native.listxattrat(dirfd, path);
  if (typeof r === 'number') check(r, 'listxattrat', path);
  return r as string[];
}

export function removexattrat(dirfd: number, path: string, name: string): void {
  check(native.removexattrat(dirfd, path, name), 'removexattrat', path);
}

/** fgetxattr(2) on a regular (non-O_PATH) fd; null for ENODATA. */
export function fgetxattr(fd: number, name: string): Buffer | null {
  const r = native.fgetxattr(fd, name);
  if (typeof r === 'number') check(r, 'fgetxattr');
  return r as Buffer | null;
}

export function fsetxattr(fd: number, name: string, value: Uint8Array, flags = 0): void {
  check(native.fsetxattr(fd, name, value, flags), 'fsetxattr');
}

export function flistxattr(fd: number): string[] {
  const r = native.flistxattr(fd);
  if (typeof r === 'number') check(r, 'flistxattr');
  return r as string[];
}

export function fremovexattr(fd: number, name: string): void {
  check(native.fremovexattr(fd, name), 'fremovexattr');
}

/**
 * @internal test hook: which implementation the *at functions use. 'fallback' forces the
 * /proc/self/fd path; 'auto' re-probes the Linux 6.13+ syscalls.
 */
export function _xattrAtMode(force?: 'auto' | 'fallback'): 'syscall' | 'fallback' {
  return native._xattrAtMode(force);
}
