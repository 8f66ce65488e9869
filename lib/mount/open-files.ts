/**
 * The open regular files of a mount, by file handle and by node: how each does its I/O
 * (lib/mount/io-mode.ts), which file a served open reads after a copy-up, and what a release
 * parks (lib/mount/parked.ts). Served reads and writes are made here, on the thread.
 */
import { wantsWrite, type FileHandle } from '../engine';
import type { OpenOut } from '../fuse';
import { FOPEN } from '../fuse/protocol';
import * as sys from '../sys';
import { IoModes, type Backing, type Passthrough } from './io-mode';
import { ParkedHandles } from './parked';

export type { Passthrough } from './io-mode';

export interface OpenFile {
  handle: FileHandle;
  /** Requests using it off this thread (a node file is not closed under them). */
  busy?: number;
  /** > 0: the kernel does this file's I/O on that backing file */
  backingId: number;
  nodeid: number;
}

/** The open files of one node id. */
interface NodeOpens {
  files: Set<OpenFile>;
  backing: Backing | null;
  /** Served: a handle on the upper file, once one is open (the object was copied up meanwhile). */
  upper: FileHandle | null;
  /** Handles released while `upper` still served others (closed with the last open). */
  retired: FileHandle[];
}

const readable = (h: FileHandle) => (h.flags & sys.O.ACCMODE) !== sys.O.WRONLY;

export class OpenFiles {
  private readonly files = new Map<number, OpenFile>();
  private readonly byNode = new Map<number, NodeOpens>();
  private readonly modes = new IoModes();
  readonly parked = new ParkedHandles();
  private nextFh = 1;
  /** The data of the last served read, until its reply is written. */
  private readBuf = Buffer.alloc(0);

  /** The kernel's passthrough, once INIT granted it (null: every open served). */
  usePassthrough(p: Passthrough | null): void {
    this.modes.use(p);
  }

  get(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (f === undefined) throw Object.assign(new Error(`bad file handle ${fh}`), { code: 'EBADF' });
    return f;
  }

  /** The open file `fh` names, if any. */
  find(fh: number): OpenFile | undefined {
    return this.files.get(fh);
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
    const backingId = this.modes.choose(handle, nodeid, readOnly, known !== undefined, known?.backing ?? null, passthrough);
    let opens = known;
    if (opens === undefined) this.byNode.set(nodeid, (opens = { files: new Set(), backing: null, upper: null, retired: [] }));
    const fh = this.nextFh++;
    const f: OpenFile = { handle, backingId, nodeid };
    this.files.set(fh, f);
    opens.files.add(f);
    if (backingId > 0) {
      if (opens.backing === null) opens.backing = this.modes.backingOf(handle, backingId);
      this.modes.passedThrough(nodeid, readOnly);
      return { fh, backingId };
    }
    if (handle.onUpper && opens.upper === null && readable(handle)) opens.upper = handle;
    return this.modes.keepsCache(nodeid) ? { fh, openFlags: FOPEN.KEEP_CACHE } : { fh };
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
      this.modes.closeBacking(f.backingId);
    }
    if (opens.files.size === 0) {
      this.byNode.delete(f.nodeid);
      for (const h of opens.retired) h.close();
      if (park && !wantsWrite(f.handle.flags)) this.parked.park(f.nodeid, f.handle);
      else f.handle.close();
    } else if (f.handle === opens.upper) {
      opens.retired.push(f.handle); // other opens of the node still read through it
    } else {
      f.handle.close();
    }
  }

  /** See ParkedHandles.unpark. */
  unpark(nodeid: number, flags: number): FileHandle | undefined {
    return this.parked.unpark(nodeid, flags);
  }

  /** Runs `open`, out of descriptors once more after closing the parked handles (ParkedHandles.withRoom). */
  withRoom<T>(open: () => Promise<T>): Promise<T> {
    return this.parked.withRoom(open);
  }

  withRoomSync<T>(open: () => T): T {
    return this.parked.withRoomSync(open);
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

  /**
   * A served read, made in place: a thread-pool round trip and a fresh buffer (its page faults)
   * cost more than the read (docs/benchmarks.md, Design figures), and the session writes a reply
   * before it reads the next request, so one buffer serves them all (a reply written later copies).
   */
  read(f: OpenFile, offset: number, size: number): Uint8Array {
    const src = this.dataOf(f);
    if (this.readBuf.length < size) this.readBuf = Buffer.allocUnsafe(size);
    return this.readBuf.subarray(0, src.readSync(this.readBuf, 0, size, offset));
  }

  /**
   * Writes all of `data` at `offset`, in place as reads are: into the page cache it takes
   * microseconds, and a server in a process that uses its own mount through fs.promises would
   * otherwise wait for a thread-pool thread that is itself blocked in a write to the mount
   * (libuv's pool has 4).
   */
  write(f: OpenFile, data: Uint8Array, offset: number): number {
    let done = 0;
    while (done < data.length) done += f.handle.writeSync(data, done, data.length - done, offset + done);
    return done;
  }

  /** lseek(2) SEEK_DATA / SEEK_HOLE on the file that holds `f`'s data. */
  seek(f: OpenFile, offset: number, whence: number): number {
    return sys.lseek(this.dataOf(f).fd, offset, whence);
  }

  /** copy_file_range(2) from `from`'s data to `to`, off this thread. */
  copyRange(from: OpenFile, offIn: number, to: OpenFile, offOut: number, len: number): Promise<number> {
    const src = this.dataOf(from).fd;
    return this.using(from, () => this.using(to, () => sys.copyFileRangeAsync(src, offIn, to.handle.fd, offOut, len, 0)));
  }

  /** The kernel forgot the node: its page cache went with its inode. */
  forgotten(nodeid: number): void {
    this.parked.take(nodeid)?.close();
    this.modes.forgotten(nodeid);
  }

  /** Closes every open file (at unmount). */
  closeAll(): void {
    for (const fh of [...this.files.keys()]) this.release(fh);
    this.parked.clear();
  }
}
