/** Directory listing via getdents64. */
import { native } from './native';
import { check } from './errors';

export interface DirEntries {
  names: string[];
  /** DT_* per entry (DT.UNKNOWN when the filesystem does not report types) */
  types: Uint8Array;
  inos: Float64Array;
}

/**
 * All entries of the directory `dirfd` refers to, except '.' and '..'. Reopens it ('.', O_RDONLY|O_DIRECTORY),
 * so O_PATH fds work and the caller's file offset is untouched.
 */
export function readdir(dirfd: number): DirEntries {
  const r = native.readdir(dirfd);
  if (typeof r === 'number') check(r, 'getdents64');
  return r as DirEntries;
}
