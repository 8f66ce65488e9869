/**
 * Kernel opens (FUSE's no_open): the kernel opens and closes files itself, and its READs and WRITEs
 * carry file handle 0 and name only the node. Each node gets a file of ours, its node file, opened
 * at its first read (the layer file that holds its data, in place) or first write (copied up,
 * read-write). Node files are kept by node id, the least recently used node first, per node newest
 * first: the newest serves the node's requests; older ones (a lower file's, before a copy-up) may
 * still be in use by a job off this thread, so they are closed with the node's. Bounded
 * (NODE_FILES_MAX): the kernel keeps inodes for as long as it likes, and a node whose file was closed
 * opens it again at its next read. Nodes that lost their name are pinned: their file is the only
 * way left to their data.
 */
import type { FileHandle, Overlay } from '../engine';
import * as sys from '../sys';
import type { OpenFile, OpenFiles } from './open-files';
import { PARKED_LOWER_MAX } from './parked';

/** Node files kept open per mount, as many as parked lower handles. */
const NODE_FILES_MAX = PARKED_LOWER_MAX;

/** Where a node is: its merged path, or null when it has no name any more (the adapter's node table). */
export type NameOf = (nodeid: number) => string | null;

export class NodeFiles {
  /** File handles (in `files`) per node id, LRU order. */
  private readonly byNode = new Map<number, number[]>();
  private readonly pinned = new Set<number>();
  /** Node files being opened (a write's copy-up may take a while): one open per node at a time. */
  private readonly opening = new Map<number, Promise<OpenFile>>();

  constructor(private readonly ov: Overlay, private readonly files: OpenFiles, private readonly nameOf: NameOf) {}

  /** The open file that serves `nodeid`'s requests without a file handle, if any. */
  of(nodeid: number): OpenFile | undefined {
    const fhs = this.byNode.get(nodeid);
    if (fhs === undefined) return undefined;
    this.byNode.delete(nodeid); // now the most recently used
    this.byNode.set(nodeid, fhs);
    return this.files.find(fhs[0]);
  }

  /** The node file that serves a read (or a write) of `nodeid`, opened if need be. */
  forRequest(nodeid: number, write: boolean): OpenFile | Promise<OpenFile> {
    const f = this.of(nodeid);
    const opening = this.opening.has(nodeid);
    if (f !== undefined && !opening && this.serves(f, nodeid, write)) return f;
    const path = this.nameOf(nodeid);
    if (!write && !opening && path !== null) {
      // A read: the layer file that holds the data, opened in place (no copy-up, nothing to wait for).
      return this.set(nodeid, this.files.withRoomSync(() => this.ov.openInPlace(path)));
    }
    return this.open(nodeid, write);
  }

  /**
   * A regular file about to lose its last name may be open without our knowing (the kernel did
   * not ask): open it now, so that its reads (and, on the upper layer, its writes) still reach it
   * afterwards.
   */
  keepReachable(nodeid: number, path: string): void {
    // (Not skipped when the node has open files of ours: a create's may be released any moment.)
    const node = this.ov.tryResolve(path);
    if (node === null || node.type !== sys.S.IFREG) return;
    this.set(nodeid, this.ov.openInPlace(path), true);
  }

  /** The kernel forgot the node. */
  forgotten(nodeid: number): void {
    this.drop(nodeid);
    this.pinned.delete(nodeid);
  }

  /** Forgets every node file (at unmount: OpenFiles.closeAll closes them). */
  clear(): void {
    this.byNode.clear();
    this.pinned.clear();
  }

  /** Whether the node file `f` serves a read (or a write) of `nodeid` now. */
  private serves(f: OpenFile, nodeid: number, write: boolean): boolean {
    const path = this.nameOf(nodeid);
    if (write && !(f.handle.onUpper && (f.handle.flags & sys.O.ACCMODE) === sys.O.RDWR)) return false;
    if (path === null) return true; // nameless: only its descriptor reaches it
    return this.ov.holdsData(f.handle, path); // no copy-up or replacement since it was opened
  }

  /** Opens the node's file (for a write: copied up, read-write), one open per node at a time. */
  private async open(nodeid: number, write: boolean): Promise<OpenFile> {
    for (let pending = this.opening.get(nodeid); pending !== undefined; pending = this.opening.get(nodeid)) {
      await pending.catch(() => undefined);
      const f = this.of(nodeid);
      if (f !== undefined && this.serves(f, nodeid, write)) return f;
    }
    const opening = (async () => {
      const kept = this.of(nodeid);
      const path = this.nameOf(nodeid);
      if (path === null && kept !== undefined) {
        // A lower file that lost its name, written to: into a copy of its own (Overlay.namelessCopy).
        return this.set(nodeid, await this.ov.namelessCopy(kept.handle), true);
      }
      if (path === null) throw Object.assign(new Error(`node ${nodeid} has no name any more`), { code: 'ENOENT' });
      const flags = write ? sys.O.RDWR : sys.O.RDONLY;
      return this.set(nodeid, await this.files.withRoom(() => this.ov.open(path, flags)));
    })();
    this.opening.set(nodeid, opening);
    try {
      return await opening;
    } finally {
      this.opening.delete(nodeid);
    }
  }

  /** Makes `handle` the node's file; `pin`: the node has no name any more, its file stays until the node is forgotten. */
  private set(nodeid: number, handle: FileHandle, pin = false): OpenFile {
    const { fh } = this.files.register(handle, nodeid);
    const fhs = this.byNode.get(nodeid) ?? [];
    fhs.unshift(fh);
    this.byNode.delete(nodeid);
    this.byNode.set(nodeid, fhs);
    if (pin) this.pinned.add(nodeid);
    this.trim(nodeid);
    return this.files.get(fh);
  }

  /** Closes the files of the least recently used nodes beyond NODE_FILES_MAX (not `keep`'s, pinned or busy ones). */
  private trim(keep: number): void {
    let excess = this.byNode.size - this.pinned.size - NODE_FILES_MAX;
    if (excess <= 0) return;
    for (const [nodeid, fhs] of this.byNode) {
      if (excess <= 0) break;
      if (nodeid === keep || this.pinned.has(nodeid) || fhs.some((fh) => (this.files.find(fh)?.busy ?? 0) > 0)) continue;
      this.drop(nodeid);
      excess--;
    }
  }

  /** Releases the node files of `nodeid`; closed, not parked (the bound holds). */
  private drop(nodeid: number): void {
    const fhs = this.byNode.get(nodeid);
    if (fhs === undefined) return;
    this.byNode.delete(nodeid);
    for (const fh of fhs) this.files.release(fh, false);
  }
}
