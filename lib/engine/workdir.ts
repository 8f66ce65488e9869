import * as sys from '../sys';
import { O, S } from '../sys';
import { hasCode } from './errors';
import { LruMap } from './lru';
import { Layer } from './layers';
import { FilePool } from './file-pool';
import { WorkLock } from './work-lock';

/**
 * O_TMPFILE support by upper filesystem (device), probed once per process: the probe makes an
 * inode, a large part of what a mount costs the mount service (docs/benchmarks.md, Design figures).
 */
const tmpfileByDev = new Map<number, boolean>();

function tmpfileWorks(workFd: number, dev: number): boolean {
  let works = tmpfileByDev.get(dev);
  if (works === undefined) {
    try {
      sys.close(sys.openat(workFd, '.', O.TMPFILE | O.RDWR, 0o600));
      works = true;
    } catch {
      works = false;
    }
    tmpfileByDev.set(dev, works);
  }
  return works;
}

/** Layer number of the index (inode numbers of indexed objects come from their own xattr). */
export const INDEX_LAYER = 1023;

/**
 * The work directory, laid out as the kernel lays it out: `<work>/work` holds objects being built
 * (copy-up, whiteouts, new directories) until one rename puts them in place; `<work>/index` holds
 * copied-up hard links by lower identity. Whatever a crash leaves in `work/work` is removed at open.
 */
export class WorkDir {
  readonly fd: number;
  /** `work/index`: one object per copied-up lower hard link, named by the lower's device and inode. */
  readonly index: Layer;
  /** Probed once: O_TMPFILE in the work dir (unnamed files: a killed copy-up leaves nothing). */
  readonly tmpfile: boolean;
  /** Empty files made ahead for creates (lib/engine/file-pool.ts). */
  readonly pool: FilePool;
  private renameWhiteoutWorks: boolean | null = null;
  private mknodWhiteoutWorks: boolean | null = null;
  /** This upper and work are ours alone while we live (lib/engine/work-lock.ts). */
  private readonly lock: WorkLock;

  /** `mountpoint`: where the overlay is mounted, if it is (named to a second user refused). */
  constructor(readonly root: string, readonly upper: Layer, mountpoint: string | null = null) {
    const rootFd = sys.openat(sys.AT.FDCWD, root, O.PATH | O.DIRECTORY | O.CLOEXEC);
    // Locked before anything in work/ is touched: another user's copy-ups may be in flight there.
    try {
      this.lock = WorkLock.acquire(rootFd, upper.rootFd, { upper: upper.root, work: root }, mountpoint === null ? {} : { owner: `the mount on ${mountpoint}`, mountpoint });
    } catch (err) {
      sys.close(rootFd);
      throw err;
    }
    try {
      for (const sub of ['work', 'index']) {
        try {
          sys.mkdirat(rootFd, sub, 0o700);
        } catch (err) {
          if (!hasCode(err, 'EEXIST')) throw err;
        }
      }
      this.fd = sys.openBeneath(rootFd, 'work', O.PATH | O.DIRECTORY);
      this.index = new Layer(INDEX_LAYER, `${root}/index`, false, new LruMap<string, number>(1, (fd) => sys.close(fd)), true);
    } catch (err) {
      this.lock.release();
      throw err;
    } finally {
      sys.close(rootFd);
    }
    try {
      this.removeLeftovers();
      this.tmpfile = tmpfileWorks(this.fd, upper.dev);
      this.pool = new FilePool(this.fd, () => this.tempName(), poolSize);
    } catch (err) {
      sys.close(this.fd);
      this.index.close();
      this.lock.release();
      throw err;
    }
  }

  /** A name no one else uses in work/. */
  tempName(): string {
    return '#' + uniqueSuffix();
  }

  /** Deletes everything a crashed or killed operation left in work/ (never visible: not in upper). */
  removeLeftovers(): void {
    for (const name of sys.readdir(this.fd).names) removeTree(this.fd, name);
  }

  /** A whiteout (character device 0/0) named `name` in directory `dirFd`. */
  makeDeviceWhiteout(dirFd: number, name: string): void {
    sys.mknodat(dirFd, name, S.IFCHR, 0);
  }

  /**
   * Whether whiteout devices can be made here (mknod needs CAP_MKNOD): probed once. Without them
   * whiteouts are written as the kernel's xattr form.
   */
  canMknodWhiteout(): boolean {
    if (this.mknodWhiteoutWorks === null) {
      const name = this.tempName();
      try {
        this.makeDeviceWhiteout(this.fd, name);
        sys.unlinkat(this.fd, name);
        this.mknodWhiteoutWorks = true;
      } catch {
        this.mknodWhiteoutWorks = false;
      }
    }
    return this.mknodWhiteoutWorks;
  }

  /** RENAME_WHITEOUT support of the upper filesystem, learned on first use. */
  get renameWhiteout(): boolean | null {
    return this.renameWhiteoutWorks;
  }

  set renameWhiteout(works: boolean | null) {
    this.renameWhiteoutWorks = works;
  }

  close(): void {
    this.pool.close();
    sys.close(this.fd);
    this.index.close();
    this.lock.release(); // last: nothing of ours is left in work/ for the next user to trip on
  }
}

/** Removes `name` under `dirFd`, recursively, without following symlinks. */
export function removeTree(dirFd: number, name: string): void {
  const st = sys.tryStatx(dirFd, name);
  if (st === null) return;
  if ((st.mode & S.IFMT) === S.IFDIR) {
    const fd = sys.openBeneath(dirFd, name, O.PATH | O.DIRECTORY);
    try {
      for (const child of sys.readdir(fd).names) removeTree(fd, child);
    } finally {
      sys.close(fd);
    }
    sys.unlinkat(dirFd, name, sys.AT.REMOVEDIR);
  } else {
    sys.unlinkat(dirFd, name);
  }
}

/** Files the create pool keeps; LAYERFS_FILE_POOL=0 turns it off (to compare). */
const poolSize = (() => {
  const v = Number(process.env.LAYERFS_FILE_POOL ?? 32);
  return Number.isInteger(v) && v >= 0 && v <= 4096 ? v : 32;
})();

let tempCounter = 0;

/** A name no other temp file of any process has: pid, a counter, and randomness for pid reuse. */
function uniqueSuffix(): string {
  // (node:crypto would add its loading to the mount program's start-up for this)
  const rnd = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return `${process.pid.toString(16)}-${(tempCounter++).toString(16)}-${rnd}`;
}
