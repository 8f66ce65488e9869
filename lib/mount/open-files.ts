/**
 * Open regular files of a mount and how the kernel does their I/O: kernel passthrough (reads and
 * writes go to a backing file and skip us) or served (READ and WRITE requests, through the inode's
 * page cache). The kernel keeps one mode per inode while it is open (mixing them fails the open
 * with EIO), so the choice is made per node id:
 *
 *   - opens join the mode the node is open in already;
 *   - a small file opened read-only again (it was opened before) is served with FOPEN_KEEP_CACHE:
 *     its data comes in READs once, then every open of it reads the page cache, and there is no
 *     passthrough read to invalidate its atime (which costs a GETATTR at the next fstat): an open
 *     + read + fstat of /etc/passwd or of a library costs one round trip instead of two;
 *   - everything else goes through passthrough when the kernel offers it (a file read once is
 *     read fastest there).
 */
import * as fs from 'node:fs';
import { LruMap, wantsWrite, type FileHandle } from '../engine';
import type { OpenOut } from '../fuse';
import { FOPEN } from '../fuse/protocol';
import * as sys from '../sys';

/** Hands open files to the kernel (FUSE passthrough): their reads and writes then skip us. */
export interface Passthrough {
  open(fd: number): number;
  close(id: number): void;
}

export interface OpenFile {
  handle: FileHandle;
  /** Requests using it off this thread (a node file is not closed under them). */
  busy?: number;
  /** > 0: the kernel does this file's I/O on that backing file */
  backingId: number;
  nodeid: number;
}

/** Read-only opens of files up to this size are served through the page cache, larger ones passed through. */
const SERVED_READ_MAX = 1 << 20;

/** The open files of one node id. */
interface NodeOpens {
  files: Set<OpenFile>;
  /** Passthrough: the kernel wants one backing, shared, for every open of an inode. */
  backing: { id: number; dev: number; ino: number; refs: number } | null;
  /** Served: a handle on the upper file, once one is open (the object was copied up meanwhile). */
  upper: FileHandle | null;
  /** Handles released while `upper` still served others (closed with the last open). */
  retired: FileHandle[];
}

/**
 * Parked read-only handles per mount (`parkedLower`, `parkedUpper`): at most an eighth of the
 * process's descriptor limit between them (a server may hold several mounts).
 */
const PARKED_LOWER_MAX = Math.max(8, Math.min(512, Math.floor(descriptorLimit() / 8) - 64));
const PARKED_UPPER_MAX = 64;
/** Node files (kernel opens) kept open per mount, as many as parked lower handles. */
const NODE_FILES_MAX = PARKED_LOWER_MAX;

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

const readable = (h: FileHandle) => (h.flags & sys.O.ACCMODE) !== sys.O.WRONLY;

export class OpenFiles {
  private readonly files = new Map<number, OpenFile>();
  private readonly byNode = new Map<number, NodeOpens>();
  /**
   * Nodes whose file was written through passthrough: the kernel's page cache of the inode may
   * hold what a served open read before, so their next served open must drop it (no KEEP_CACHE).
   */
  private readonly stalePages = new Set<number>();
  /** Nodes opened before (while the kernel knows them): opened again, they are worth caching. */
  private readonly openedBefore = new Set<number>();
  /**
   * Read-only handles whose last open was released, by node id, to serve the next open of the
   * node without an open and a close of the layer file (and a path walk): the
   * loader opening the same libraries for every process, nss reading /etc/passwd for every name
   * looked up, dpkg reading every package's file list and the locale files on every run (hundreds
   * of files). Handles on lower files are many: the layers never change and nothing of them is ever
   * deleted. Handles on upper files are few: an upper file unlinked while one is parked keeps its
   * blocks until the handle goes.
   */
  private readonly parkedLower = new LruMap<number, FileHandle>(PARKED_LOWER_MAX, closeParkedHandle);
  private readonly parkedUpper = new LruMap<number, FileHandle>(PARKED_UPPER_MAX, closeParkedHandle);
  /**
   * Kernel opens (no OPEN round trips): each node's own open files, by node id, the least recently
   * used node first; per node newest first. The newest serves the node's READs and WRITEs; older
   * ones (a lower file's, before a copy-up) may still be in use by a job off this thread, so they are
   * closed with the node's. Bounded (NODE_FILES_MAX): the kernel keeps inodes for as long as it
   * likes, and a node whose file was closed opens it again at its next read. Nodes that lost their
   * name are `pinned`: their file is the only way left to their data.
   */
  private readonly nodeFiles = new Map<number, number[]>();
  private readonly pinned = new Set<number>();
  private nextFh = 1;
  passthrough: Passthrough | null = null;

  get(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (f === undefined) throw Object.assign(new Error(`bad file handle ${fh}`), { code: 'EBADF' });
    return f;
  }

  /** An open file of `nodeid`: the one named by `fh`, else any. */
  anyOf(nodeid: number, fh: number | undefined): OpenFile | undefined {
    const f = fh !== undefined ? this.files.get(fh) : undefined;
    if (f !== undefined) return f;
    const opens = this.byNode.get(nodeid);
    return opens === undefined ? undefined : opens.files.values().next().value;
  }

  /**
   * The handle whose file holds the current data of `f`'s object. A served open made before a
   * copy-up still holds the lower file; reads must come from the upper one, as overlayfs reads of
   * such a descriptor do, and because the inode's page cache is shared by every open of it.
   */
  dataOf(f: OpenFile): FileHandle {
    if (f.handle.onUpper || f.backingId > 0) return f.handle;
    return this.byNode.get(f.nodeid)?.upper ?? f.handle;
  }

  /**
   * Registers an open file and answers how the kernel is to do its I/O. `passthrough` false: not
   * in passthrough, unless the node is open in passthrough already (the kernel allows nothing else).
   */
  register(handle: FileHandle, nodeid: number, passthrough = true): OpenOut {
    const known = this.byNode.get(nodeid);
    const readOnly = !wantsWrite(handle.flags);
    let backingId = 0;
    if (this.passthrough !== null) {
      if (known === undefined) {
        const again = this.openedBefore.has(nodeid);
        if (!again) this.openedBefore.add(nodeid);
        if (passthrough && (!readOnly || !again || handle.node.top.stat.size > SERVED_READ_MAX)) backingId = this.newBacking(handle);
      } else if (known.backing !== null) {
        backingId = this.sharedBacking(handle, nodeid, known.backing);
      }
    }
    let opens = known;
    if (opens === undefined) this.byNode.set(nodeid, (opens = { files: new Set(), backing: null, upper: null, retired: [] }));
    const fh = this.nextFh++;
    const f: OpenFile = { handle, backingId, nodeid };
    this.files.set(fh, f);
    opens.files.add(f);
    if (backingId > 0) {
      if (opens.backing === null) {
        const { dev, ino } = handle.identity();
        opens.backing = { id: backingId, dev, ino, refs: 1 };
      }
      if (!readOnly) this.stalePages.add(nodeid);
      return { fh, backingId };
    }
    if (handle.onUpper && opens.upper === null && readable(handle)) opens.upper = handle;
    // Keep the page cache across opens: every change to the file's data passes through it while
    // it is served (WRITE, truncate and fallocate by the kernel, copy-up keeps the bytes), unless
    // passthrough wrote to the file since it was last served.
    const keep = !this.stalePages.delete(nodeid);
    return keep ? { fh, openFlags: FOPEN.KEEP_CACHE } : { fh };
  }

  /** A backing id for the first open of a node (0: serve it instead). */
  private newBacking(handle: FileHandle): number {
    try {
      return this.passthrough!.open(handle.fd);
    } catch {
      return 0; // served reads and writes instead
    }
  }

  /** The node is open in passthrough already: its backing, if this open is of the same file. */
  private sharedBacking(handle: FileHandle, nodeid: number, backing: NonNullable<NodeOpens['backing']>): number {
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

  /** Whether `nodeid` is open for writing in passthrough: its writes do not reach us. */
  writableInPassthrough(nodeid: number): boolean {
    const opens = this.byNode.get(nodeid);
    if (opens === undefined || opens.backing === null) return false;
    for (const f of opens.files) if (f.backingId > 0 && wantsWrite(f.handle.flags)) return true;
    return false;
  }

  /**
   * Served opens of `nodeid` read a lower file and no readable upper handle is open, though the
   * object was copied up (a write open, a truncate by path): they must read the upper file from now
   * on, through a handle given to `adoptUpper`.
   */
  readsLowerOnly(nodeid: number): boolean {
    const opens = this.byNode.get(nodeid);
    if (opens === undefined || opens.backing !== null || opens.upper !== null) return false;
    for (const f of opens.files) if (!f.handle.onUpper) return true;
    return false;
  }

  adoptUpper(nodeid: number, handle: FileHandle): void {
    const opens = this.byNode.get(nodeid);
    if (opens === undefined || opens.upper !== null || !handle.onUpper || !readable(handle)) {
      handle.close();
      return;
    }
    opens.upper = handle;
    opens.retired.push(handle); // belongs to no open file: closed with the node's last one
  }

  /** Forgets and closes an open file (RELEASE); unknown handles are ignored. `park`: a read-only handle may be kept for the next open. */
  release(fh: number, park = true): void {
    const f = this.files.get(fh);
    if (f === undefined) return;
    this.files.delete(fh);
    const opens = this.byNode.get(f.nodeid);
    if (opens === undefined) {
      f.handle.close();
      return;
    }
    opens.files.delete(f);
    if (f.backingId > 0 && opens.backing !== null && --opens.backing.refs === 0) {
      opens.backing = null;
      try {
        this.passthrough?.close(f.backingId);
      } catch {
        /* the kernel dropped it already (the connection is going away): the descriptor still closes */
      }
    }
    if (opens.files.size === 0) {
      this.byNode.delete(f.nodeid);
      for (const h of opens.retired) h.close();
      if (park && !wantsWrite(f.handle.flags)) this.park(f.nodeid, f.handle);
      else f.handle.close();
    } else if (f.handle === opens.upper) {
      opens.retired.push(f.handle); // other opens of the node still read through it
    } else {
      f.handle.close();
    }
  }

  /** Parks the released read-only handle of `nodeid` (one closes the node's handle parked before). */
  private park(nodeid: number, h: FileHandle): void {
    this.takeParked(nodeid)?.close();
    (h.onUpper ? this.parkedUpper : this.parkedLower).set(nodeid, h);
  }

  /** The parked handle of `nodeid`, taken out of the parking (not closed). */
  private takeParked(nodeid: number): FileHandle | undefined {
    return this.parkedLower.take(nodeid) ?? this.parkedUpper.take(nodeid);
  }

  /**
   * A parked handle of `nodeid` opened with exactly `flags`, taken out of the parking (the caller
   * checks that its file still holds the node's data, and closes it if not).
   */
  unpark(nodeid: number, flags: number): FileHandle | undefined {
    const h = this.takeParked(nodeid);
    if (h === undefined || h.flags === flags) return h;
    h.close();
    return undefined;
  }

  /**
   * Runs `open`; when the process is out of descriptors (EMFILE, ENFILE), closes every parked
   * handle and tries once more: parked handles are a cache, never the reason an open fails.
   */
  async withRoom<T>(open: () => Promise<T>): Promise<T> {
    try {
      return await open();
    } catch (err) {
      if (!outOfDescriptors(err) || this.parkedLower.size + this.parkedUpper.size === 0) throw err;
      this.closeParked();
      return open();
    }
  }

  /** The open file that serves `nodeid`'s requests without a file handle (kernel opens), if any. */
  nodeFileOf(nodeid: number): OpenFile | undefined {
    const fhs = this.nodeFiles.get(nodeid);
    if (fhs === undefined) return undefined;
    this.nodeFiles.delete(nodeid); // now the most recently used
    this.nodeFiles.set(nodeid, fhs);
    return this.files.get(fhs[0]);
  }

  /**
   * Makes `handle` the open file of `nodeid`'s requests without a file handle (kernel opens);
   * `pin`: the node has no name any more, its file is never closed before the node is forgotten.
   */
  setNodeFile(nodeid: number, handle: FileHandle, pin = false): OpenFile {
    const { fh } = this.register(handle, nodeid);
    const fhs = this.nodeFiles.get(nodeid) ?? [];
    fhs.unshift(fh);
    this.nodeFiles.delete(nodeid);
    this.nodeFiles.set(nodeid, fhs);
    if (pin) this.pinned.add(nodeid);
    this.trimNodeFiles(nodeid);
    return this.files.get(fh)!;
  }

  /** Runs `work` on `f` (off this thread) with `f` kept open meanwhile. */
  async using<T>(f: OpenFile, work: () => Promise<T>): Promise<T> {
    f.busy = (f.busy ?? 0) + 1;
    try {
      return await work();
    } finally {
      f.busy--;
    }
  }

  /** Closes the files of the least recently used nodes beyond NODE_FILES_MAX (not `keep`'s, pinned or busy ones). */
  private trimNodeFiles(keep: number): void {
    let excess = this.nodeFiles.size - this.pinned.size - NODE_FILES_MAX;
    if (excess <= 0) return;
    for (const [nodeid, fhs] of this.nodeFiles) {
      if (excess <= 0) break;
      if (nodeid === keep || this.pinned.has(nodeid) || fhs.some((fh) => (this.files.get(fh)?.busy ?? 0) > 0)) continue;
      this.dropNodeFiles(nodeid);
      excess--;
    }
  }

  /** Releases the node files of `nodeid`; closed, not parked (the bound holds). */
  private dropNodeFiles(nodeid: number): void {
    const fhs = this.nodeFiles.get(nodeid);
    if (fhs === undefined) return;
    this.nodeFiles.delete(nodeid);
    for (const fh of fhs) this.release(fh, false);
  }

  /** withRoom for an open that does not wait. */
  withRoomSync<T>(open: () => T): T {
    try {
      return open();
    } catch (err) {
      if (!outOfDescriptors(err) || this.parkedLower.size + this.parkedUpper.size === 0) throw err;
      this.closeParked();
      return open();
    }
  }

  /** The kernel forgot the node: its page cache went with its inode. */
  forgotten(nodeid: number): void {
    this.dropNodeFiles(nodeid);
    this.pinned.delete(nodeid);
    this.takeParked(nodeid)?.close();
    this.stalePages.delete(nodeid);
    this.openedBefore.delete(nodeid);
  }

  /** Closes every open file (at unmount). */
  closeAll(): void {
    this.nodeFiles.clear();
    this.pinned.clear();
    for (const fh of [...this.files.keys()]) this.release(fh);
    this.closeParked();
  }

  private closeParked(): void {
    this.parkedLower.clear(); // closes each
    this.parkedUpper.clear();
  }
}
