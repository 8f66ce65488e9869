/**
 * Locks the kernel holds for the process's life: flock(2) on a file of the store, through lib/sys.
 * A process killed by SIGKILL drops them with its file descriptors, so there is never a stale lock.
 */
import * as fs from 'node:fs';
import * as sys from '../../sys';

export class FileLock {
  private constructor(private fd: number, readonly path: string) {}

  /** Waits for the lock (shared or exclusive) on `file`, created if missing. */
  static async acquire(file: string, mode: 'shared' | 'exclusive'): Promise<FileLock> {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      const op = mode === 'shared' ? sys.LOCK.SH : sys.LOCK.EX;
      if (!sys.tryFlock(fd, op)) await sys.flockAsync(fd, op);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return new FileLock(fd, file);
  }

  /** Takes the lock without waiting; null when another process holds it. */
  static tryAcquire(file: string, mode: 'shared' | 'exclusive'): FileLock | null {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if (!sys.tryFlock(fd, mode === 'shared' ? sys.LOCK.SH : sys.LOCK.EX)) {
      fs.closeSync(fd);
      return null;
    }
    return new FileLock(fd, file);
  }

  /** Holds an already open fd's lock (a directory's, for a tmp dir) */
  static holdFd(fd: number, file: string): FileLock | null {
    if (!sys.tryFlock(fd, sys.LOCK.EX)) return null;
    return new FileLock(fd, file);
  }

  release(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd); // closing drops the lock
    this.fd = -1;
  }
}

/** Runs `fn` under the lock, released whatever happens. */
export async function withLock<T>(file: string, mode: 'shared' | 'exclusive', fn: () => Promise<T> | T): Promise<T> {
  const lock = await FileLock.acquire(file, mode);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
