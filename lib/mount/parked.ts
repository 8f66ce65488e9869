/**
 * Parked read-only handles: a node's last read-only handle, kept when its open is released, serves
 * the node's next open without an open and a close of the layer file (and a path walk): the
 * loader opening the same libraries for every process, nss reading /etc/passwd for every name
 * looked up, dpkg reading every package's file list and the locale files on every run (hundreds
 * of files). Handles on lower files are many: the layers never change and nothing of them is ever
 * deleted. Handles on upper files are few: an upper file unlinked while one is parked keeps its
 * blocks until the handle goes. A cache: never the reason an open fails (`withRoom`).
 */
import * as fs from 'node:fs';
import { LruMap, type FileHandle } from '../engine';

/** At most an eighth of the process's descriptor limit between them (a server may hold several mounts). */
export const PARKED_LOWER_MAX = Math.max(8, Math.min(512, Math.floor(descriptorLimit() / 8) - 64));
export const PARKED_UPPER_MAX = 64;

/** The soft RLIMIT_NOFILE of this process (Node has no getrlimit): 1024 when it cannot be read. */
function descriptorLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m !== null) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    /* not Linux's /proc */
  }
  return 1024;
}

const outOfDescriptors = (err: unknown) => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
};

/** A parked handle pushed out of its cache (or cleared) is closed; one taken out to serve an open is not. */
const closeParkedHandle = (h: FileHandle): void => h.close();

export class ParkedHandles {
  private readonly lower = new LruMap<number, FileHandle>(PARKED_LOWER_MAX, closeParkedHandle);
  private readonly upper = new LruMap<number, FileHandle>(PARKED_UPPER_MAX, closeParkedHandle);

  get size(): number {
    return this.lower.size + this.upper.size;
  }

  /** Parks the released read-only handle of `nodeid` (one closes the node's handle parked before). */
  park(nodeid: number, h: FileHandle): void {
    this.take(nodeid)?.close();
    (h.onUpper ? this.upper : this.lower).set(nodeid, h);
  }

  /** The parked handle of `nodeid`, taken out of the parking (not closed). */
  take(nodeid: number): FileHandle | undefined {
    return this.lower.take(nodeid) ?? this.upper.take(nodeid);
  }

  /**
   * A parked handle of `nodeid` opened with exactly `flags`, taken out of the parking (the caller
   * checks that its file still holds the node's data, and closes it if not).
   */
  unpark(nodeid: number, flags: number): FileHandle | undefined {
    const h = this.take(nodeid);
    if (h === undefined || h.flags === flags) return h;
    h.close();
    return undefined;
  }

  /**
   * Runs `open`; when the process is out of descriptors (EMFILE, ENFILE), closes every parked
   * handle and tries once more.
   */
  async withRoom<T>(open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (err) {
      if (!outOfDescriptors(err) || this.size === 0) throw err;
      this.clear();
      return open();
    }
  }

  /** withRoom for an open that does not wait. */
  withRoomSync<T>(open: () => T): T {
    try {
      return open();
    } catch (err) {
      if (!outOfDescriptors(err) || this.size === 0) throw err;
      this.clear();
      return open();
    }
  }

  /** Closes every parked handle. */
  clear(): void {
    this.lower.clear(); // closes each
    this.upper.clear();
  }
}
