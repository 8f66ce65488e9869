/**
 * One upper and work directory, one user at a time (as the kernel's overlayfs marks both "in use"):
 * every open empties work/work, so a second user would delete the first one's copy-ups in flight.
 *
 * The lock is flock(2) on the work directory's `layerfs.lock` and on the upper directory itself,
 * exclusive, held for the overlay's life. The kernel drops it when the holder's last descriptor
 * closes, so a killed holder (SIGKILL too) leaves no stale lock. The lock file says who holds it
 * (one line of JSON: pid, owner, upper, work), for the refusal to name the other user; it is never
 * removed (a removed file could be locked by two users at once, each through its own inode).
 */
import * as fs from 'node:fs';
import * as sys from '../sys';
import { LOCK, O } from '../sys';
import { ConfigError } from './config';

/** In the work directory's root, beside work/ and index/. */
export const LOCK_FILE = 'layerfs.lock';

export interface LockHolder {
  pid: number;
  /** Who holds it, for a message: "the mount on /mnt (pid 123)" or "process 123". */
  owner: string;
  /** The holder's mountpoint, when it is a mount. */
  mountpoint?: string;
  upper?: string;
  work?: string;
}

/** The two locks of a live overlay; `release()` lets go of both. */
export class WorkLock {
  private constructor(private readonly fds: number[]) {}

  /**
   * Takes both locks without waiting, or throws a ConfigError (code EBUSY) naming the holder.
   * `workFd` and `upperFd` may be O_PATH descriptors of the two roots.
   */
  static acquire(workFd: number, upperFd: number, paths: { upper: string; work: string }, holder: { owner?: string; mountpoint?: string }): WorkLock {
    const fds: number[] = [];
    try {
      const lockFd = sys.openat(workFd, LOCK_FILE, O.RDWR | O.CREAT | O.NOFOLLOW | O.CLOEXEC, 0o600);
      fds.push(lockFd);
      if (!sys.tryFlock(lockFd, LOCK.EX)) throw inUse('work', paths.work, readHolder(lockFd));
      const dirFd = sys.openat(upperFd, '.', O.RDONLY | O.DIRECTORY | O.CLOEXEC);
      fds.push(dirFd);
      if (!sys.tryFlock(dirFd, LOCK.EX)) throw inUse('upper', paths.upper, holderOfUpper(dirFd, paths.upper));
      const mine: LockHolder = {
        pid: process.pid,
        owner: holder.owner === undefined ? `process ${process.pid}` : `${holder.owner} (pid ${process.pid})`,
        ...(holder.mountpoint !== undefined ? { mountpoint: holder.mountpoint } : {}),
        upper: paths.upper,
        work: paths.work,
      };
      const line = Buffer.from(JSON.stringify(mine) + '\n');
      sys.ftruncate(lockFd, 0);
      sys.pwrite(lockFd, line, 0, line.length, 0);
      return new WorkLock(fds);
    } catch (err) {
      for (const fd of fds) sys.close(fd);
      throw err;
    }
  }

  release(): void {
    for (const fd of this.fds.splice(0)) sys.close(fd);
  }
}

/**
 * Who holds the lock of this upper and work now, or null when it is free (it may be taken the next
 * moment: only `WorkLock.acquire` decides). Never throws: a directory that cannot be read is for
 * the open to report.
 */
export function workLockHolder(upper: string, work: string): LockHolder | null {
  let fd = -1;
  try {
    fd = sys.openat(sys.AT.FDCWD, `${work}/${LOCK_FILE}`, O.RDONLY | O.NOFOLLOW | O.CLOEXEC);
    if (!sys.tryFlock(fd, LOCK.SH)) return readHolder(fd);
  } catch {
    /* no lock file yet: never used, so not in use */
  } finally {
    if (fd >= 0) sys.close(fd);
  }
  fd = -1;
  try {
    fd = sys.openat(sys.AT.FDCWD, upper, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
    if (!sys.tryFlock(fd, LOCK.SH)) return holderOfUpper(fd, upper);
  } catch {
    /* unreadable: the open says why */
  } finally {
    if (fd >= 0) sys.close(fd);
  }
  return null;
}

function inUse(option: 'upper' | 'work', dir: string, holder: LockHolder): ConfigError {
  return new ConfigError(
    'EBUSY', option,
    `${option} ${dir} is in use by ${holder.owner}: an upper and work directory serve one mount at a time`,
    dir,
  );
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.pid === 'number' && typeof h.owner === 'string' ? h : null;
  } catch {
    return null;
  }
}

function readHolder(fd: number): LockHolder {
  const buf = Buffer.alloc(8192);
  let n = 0;
  try {
    n = sys.pread(fd, buf, 0, buf.length, 0);
  } catch {
    /* unreadable: say what we can */
  }
  // The holder writes its line right after it took the lock: an empty file is one just taken.
  return parseHolder(buf.subarray(0, n).toString('utf8')) ?? { pid: 0, owner: 'another user (starting)' };
}

/**
 * The holder of the upper directory's lock: its pid from /proc/locks, and its own words from the
 * layerfs.lock it holds open for the same upper (found among its descriptors).
 */
function holderOfUpper(dirFd: number, upper: string): LockHolder {
  const st = sys.fstat(dirFd);
  const key = `${st.devMajor.toString(16).padStart(2, '0')}:${st.devMinor.toString(16).padStart(2, '0')}:${st.ino}`;
  let pid = 0;
  try {
    for (const line of fs.readFileSync('/proc/locks', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === 'FLOCK' && f[3] === 'WRITE' && f[5] === key) pid = Number(f[4]);
    }
  } catch {
    /* no /proc/locks */
  }
  if (pid > 0) {
    try {
      for (const fdName of fs.readdirSync(`/proc/${pid}/fd`)) {
        let target: string;
        try {
          target = fs.readlinkSync(`/proc/${pid}/fd/${fdName}`);
        } catch {
          continue;
        }
        if (!target.endsWith(`/${LOCK_FILE}`)) continue;
        const h = parseHolder(fs.readFileSync(target, 'utf8'));
        if (h !== null && h.upper === upper) return h;
      }
    } catch {
      /* another user's process: its pid is all we can say */
    }
  }
  return { pid, owner: pid > 0 ? `process ${pid}` : 'another user' };
}
