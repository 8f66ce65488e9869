/**
 * Work areas under the store's tmp/: each is flocked by the process that made it, so what a killed
 * process left is recognised (its lock dropped with it) and removed at the next open or prune.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { uniqueName } from './fsutil';
import { FileLock } from './lock';

/** A work area under tmp/, owned (flock) by this process until `remove()`. */
export interface TempDir {
  path: string;
  remove(): void;
}

/** The work areas of one store handle, and the scratch area `discard` moves things into. */
export class WorkAreas {
  private scratch: TempDir | undefined;

  constructor(readonly tmpDir: string) {}

  /** A fresh work area, locked by this process (a crash leaves it to the next open). */
  create(): TempDir {
    const name = uniqueName();
    const pending = path.join(this.tmpDir, `.new-${name}`);
    const final = path.join(this.tmpDir, name);
    fs.mkdirSync(pending, { mode: 0o700 });
    const fd = fs.openSync(pending, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const lock = FileLock.holdFd(fd, final)!;
    fs.renameSync(pending, final);
    let removed = false;
    return {
      path: final,
      remove: () => {
        if (removed) return;
        removed = true;
        fs.rmSync(final, { recursive: true, force: true });
        lock.release();
      },
    };
  }

  /** Takes `p` out of sight at once (rename into tmp/), then deletes it. */
  discard(p: string): void {
    this.scratch ??= this.create();
    const target = path.join(this.scratch.path, uniqueName('gone-'));
    try {
      fs.renameSync(p, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    fs.rmSync(target, { recursive: true, force: true });
  }

  /** Removes the scratch area. */
  close(): void {
    this.scratch?.remove();
    this.scratch = undefined;
  }

  /** Removes work areas whose owner is gone (its flock dropped with it). */
  removeLeftovers(): void {
    for (const name of fs.readdirSync(this.tmpDir)) {
      const p = path.join(this.tmpDir, name);
      if (name.startsWith('.new-')) {
        // being created (locked only once renamed): gone when its creator (the pid in its name) is
        // dead, or a minute old (a reused pid)
        try {
          if (!processAlive(Number(name.slice(5).split('-')[0])) || Date.now() - fs.lstatSync(p).mtimeMs > 60_000) {
            fs.rmSync(p, { recursive: true, force: true });
          }
        } catch {
          /* gone */
        }
        continue;
      }
      let fd: number;
      try {
        fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      } catch {
        fs.rmSync(p, { recursive: true, force: true });
        continue;
      }
      const lock = FileLock.holdFd(fd, p);
      if (lock === null) {
        fs.closeSync(fd);
        continue;
      }
      try {
        fs.rmSync(p, { recursive: true, force: true });
      } finally {
        lock.release();
      }
    }
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true; // not a name we made: leave it to the age rule
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
