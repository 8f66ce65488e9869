import * as sys from '../sys';
import { O } from '../sys';

/**
 * Empty files made ahead of time in work/, for creates to rename into place.
 *
 * Allocating the inode is most of what a create costs on the upper filesystem: on ext4 an O_CREAT
 * open costs many times a rename (docs/benchmarks.md, Design figures; the kernel's overlayfs pays
 * the full price inside every create). So the pool keeps a few files, made 0600 by
 * this process on the addon's job threads (off the request path, usually on an idle CPU), and a create takes
 * one: rename it in with RENAME_NOREPLACE, then give it the times, owner and mode a create would
 * have (dir-ops.ts). The pool starts with the START_AFTER-th create (a mount that creates less has
 * no pool files: a container start creates one or two, /run/.containerenv and /etc/mtab, and 32
 * files made and removed for them cost more CPU than the start could spare) and refills
 * when half empty. When a fill fails without making a single file (no space, no
 * inodes, a quota) the pool stops for good and creates make their files themselves, as they do
 * whenever the pool is empty. Whatever a killed server leaves in work/ is removed at the next open.
 */
export interface PooledFile {
  /** its name in work/ */
  readonly name: string;
  /** open read-write */
  readonly fd: number;
}

/** Creates made without the pool before it starts. */
const START_AFTER = 4;

export class FilePool {
  private readonly files: PooledFile[] = [];
  /** our own handle on work/, so a fill that ends after close() can still remove its files */
  private readonly dirFd: number;
  /** the fill running on the addon's job threads: its names are `${prefix}0` .. `${prefix}${count - 1}` */
  private filling: { prefix: string; count: number } | null = null;
  /** set at close: a fill still running stops and removes what it made (native, data.c) */
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;
  private closed = false;
  /** Creates asked for a file so far, until the pool starts. */
  private asked = 0;

  /**
   * @param workFd work/ (any fd on it; the pool opens its own)
   * @param tempName a name no one else uses in work/ (WorkDir.tempName)
   */
  constructor(workFd: number, private readonly tempName: () => string, readonly size = 32) {
    this.dirFd = sys.openat(workFd, '.', O.PATH | O.DIRECTORY);
  }

  /** Files ready now. */
  get ready(): number {
    return this.files.length;
  }

  /** A file for a create, or null (the caller creates its own); starts a refill when half empty. */
  take(): PooledFile | null {
    if (this.size === 0) return null;
    if (this.asked < START_AFTER) {
      this.asked++;
      if (this.asked < START_AFTER) return null; // the START_AFTER-th create goes on and starts the pool
    }
    const f = this.files.pop() ?? null;
    if (this.files.length <= this.size / 2) this.fill();
    return f;
  }

  /** Closes and removes a file that was taken but not used (its rename failed). */
  discard(f: PooledFile): void {
    this.remove(f);
  }

  /** Fills the pool up on the addon's job threads; resolves when that fill ended (at once if none started). */
  fill(): Promise<void> {
    const want = this.size - this.files.length;
    if (this.filling !== null || this.stopped || this.closed || want <= 0) return Promise.resolve();
    const prefix = this.tempName() + '.';
    this.filling = { prefix, count: want };
    return sys.createFilesAsync(this.dirFd, prefix, want, 0o600, this.cancel).then((fds) => {
      this.filling = null;
      let made = 0;
      fds.forEach((fd, i) => {
        if (fd < 0) return;
        made++;
        const f = { name: prefix + i, fd };
        if (this.closed) this.remove(f);
        else this.files.push(f);
      });
      if (made === 0 && !this.closed) this.stopped = true;
      if (this.closed) this.closeDir();
      else if (this.files.length <= this.size / 2) void this.fill(); // taken faster than made
    }, () => {
      this.filling = null;
      this.stopped = true;
      if (this.closed) this.closeDir();
    });
  }

  /**
   * Removes every pooled file before it returns, but for one a running fill may be creating right
   * now, which that fill removes itself.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The mount is going away and its owner may remove work/ next (podman does): a fill still
    // running makes no more files and removes its own before it ends, on its thread. One that
    // already made them all and waits for its completion (which may never run: the process may
    // exit first) has its files removed here by name; the completion then only closes their fds.
    Atomics.store(this.cancel, 0, 1);
    for (const f of this.files.splice(0)) this.remove(f);
    if (this.filling === null) this.closeDir();
    else for (let i = 0; i < this.filling.count; i++) this.unlink(this.filling.prefix + i);
  }

  private remove(f: PooledFile): void {
    sys.close(f.fd);
    this.unlink(f.name);
  }

  private unlink(name: string): void {
    try {
      sys.unlinkat(this.dirFd, name);
    } catch {
      /* gone already (or never made); else removed with work/'s leftovers at the next open */
    }
  }

  private closeDir(): void {
    try {
      sys.close(this.dirFd);
    } catch {
      /* closed */
    }
  }
}
