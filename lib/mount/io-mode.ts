/**
 * How the kernel does an open regular file's I/O: kernel passthrough (reads and writes go to a
 * backing file and skip us) or served (READ and WRITE requests, through the inode's page cache).
 * The kernel keeps one mode per inode while it is open (mixing them fails the open with EIO), so
 * the choice is made per node id:
 *
 *   - opens join the mode the node is open in already;
 *   - a small file opened read-only again (it was opened before) is served with FOPEN_KEEP_CACHE:
 *     its data comes in READs once, then every open of it reads the page cache, and there is no
 *     passthrough read to invalidate its atime (which costs a GETATTR at the next fstat): an open
 *     + read + fstat of /etc/passwd or of a library costs one round trip instead of two;
 *   - everything else goes through passthrough when the kernel offers it (a file read once is
 *     read fastest there).
 */
import type { FileHandle } from '../engine';
import * as sys from '../sys';

/** Hands open files to the kernel (FUSE passthrough): their reads and writes then skip us. */
export interface Passthrough {
  open(fd: number): number;
  close(id: number): void;
}

/** Passthrough: the kernel wants one backing, shared, for every open of an inode. */
export interface Backing {
  id: number;
  dev: number;
  ino: number;
  refs: number;
}

/** Read-only opens of files up to this size are served through the page cache, larger ones passed through. */
export const SERVED_READ_MAX = 1 << 20;

/**
 * Open flags for our own descriptor of a file the kernel opens with `flags`. Under the writeback
 * cache the kernel reads the pages it partly writes (even through a write-only open) and places
 * appends itself, sending explicit offsets: so read-write, and no O_APPEND (which would send every
 * write to the end).
 */
export function servedFlags(flags: number, writebackCache: boolean): number {
  const { O } = sys;
  // Our descriptor never needs O_DIRECT: passthrough does direct I/O with the caller's flags, and
  // served I/O goes through our own buffers, which O_DIRECT would want aligned (EINVAL otherwise).
  const plain = flags & ~O.DIRECT;
  if (!writebackCache) return plain;
  let f = plain & ~O.APPEND;
  if ((f & (O.RDONLY | O.WRONLY | O.RDWR)) === O.WRONLY) f = (f & ~O.WRONLY) | O.RDWR;
  return f;
}

export class IoModes {
  private kernel: Passthrough | null = null;
  /**
   * Nodes whose file was written through passthrough: the kernel's page cache of the inode may
   * hold what a served open read before, so their next served open must drop it (no KEEP_CACHE).
   */
  private readonly stalePages = new Set<number>();
  /** Nodes opened before (while the kernel knows them): opened again, they are worth caching. */
  private readonly openedBefore = new Set<number>();

  /** The kernel's passthrough, once INIT granted it. */
  use(kernel: Passthrough | null): void {
    this.kernel = kernel;
  }

  /**
   * The backing id for an open of `nodeid` (0: served). `open`: the node is open already, with
   * `backing` (null: served). `passthrough` false: served unless the node is open in passthrough
   * already (the kernel allows nothing else).
   */
  choose(handle: FileHandle, nodeid: number, readOnly: boolean, open: boolean, backing: Backing | null, passthrough: boolean): number {
    if (this.kernel === null) return 0;
    if (!open) {
      const again = this.openedBefore.has(nodeid);
      if (!again) this.openedBefore.add(nodeid);
      if (passthrough && (!readOnly || !again || handle.node.top.stat.size > SERVED_READ_MAX)) return this.newBacking(handle);
      return 0;
    }
    return backing === null ? 0 : this.sharedBacking(handle, nodeid, backing);
  }

  /** The record of a node's first backing, `id`, on `handle`'s file. */
  backingOf(handle: FileHandle, id: number): Backing {
    const { dev, ino } = handle.identity();
    return { id, dev, ino, refs: 1 };
  }

  /** An open of `nodeid` was registered in passthrough. */
  passedThrough(nodeid: number, readOnly: boolean): void {
    if (!readOnly) this.stalePages.add(nodeid);
  }

  /**
   * Whether a served open of `nodeid` keeps the page cache across opens: every change to the file's
   * data passes through it while it is served (WRITE, truncate and fallocate by the kernel, copy-up
   * keeps the bytes), unless passthrough wrote to the file since it was last served.
   */
  keepsCache(nodeid: number): boolean {
    return !this.stalePages.delete(nodeid);
  }

  /** Drops a backing the node's last passthrough open used. */
  closeBacking(id: number): void {
    try {
      this.kernel?.close(id);
    } catch {
      /* the kernel dropped it already (the connection is going away): the descriptor still closes */
    }
  }

  /** The kernel forgot the node: its page cache went with its inode. */
  forgotten(nodeid: number): void {
    this.stalePages.delete(nodeid);
    this.openedBefore.delete(nodeid);
  }

  /** A backing id for the first open of a node (0: serve it instead). */
  private newBacking(handle: FileHandle): number {
    try {
      return this.kernel!.open(handle.fd);
    } catch {
      return 0; // served reads and writes instead
    }
  }

  /** The node is open in passthrough already: its backing, if this open is of the same file. */
  private sharedBacking(handle: FileHandle, nodeid: number, backing: Backing): number {
    const st = handle.identity();
    if (backing.dev === st.dev && backing.ino === st.ino) {
      backing.refs++;
      return backing.id;
    }
    // Open already, in passthrough, on another file (the lower one, before this copy-up): the
    // kernel allows neither a second backing nor a served open of this inode. So the open fails
    // with ESTALE and the caller gives the object a new node id: the VFS retries once with
    // LOOKUP_REVAL, the lookup answers the new id, and the retry opens a new inode backed by the
    // upper file. Readers that had it open keep the old inode and the data they opened.
    handle.close();
    throw Object.assign(new Error(`node ${nodeid} was copied up under open readers`), { code: 'ESTALE' });
  }
}
