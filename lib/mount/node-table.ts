/**
 * FUSE node ids for merged objects. One node id per overlay inode number (stable across copy-up and
 * rename, shared by hard links, so the kernel sees one inode per object); the root is 1. Each node
 * remembers one merged path to reach it and how many lookups the kernel holds; FORGET drops it, so
 * the table only holds what the kernel caches. An object can be given a fresh node id (`renew`): the
 * kernel then makes it a new inode at its next lookup, while open files keep the old one.
 */
import type { OverlayNode } from '../engine';

export interface TableNode {
  nodeid: number;
  ino: number;
  /** A merged path that reaches it. */
  path: string;
  /** Other names the kernel learned for it (hard links): when `path` is unlinked, one of these serves. */
  others?: string[];
  nlookup: number;
  /** Its name was unlinked or renamed over: `path` now names another object (or none). */
  detached?: boolean;
  /** The engine's node for `path`, valid while the engine's generation is `gen`. */
  node?: OverlayNode;
  gen?: number;
}

export const ROOT_ID = 1;

export class NodeTable {
  private readonly byId = new Map<number, TableNode>();
  /** overlay inode number -> its current node id */
  private readonly byIno = new Map<number, number>();
  private nextId = ROOT_ID + 1;

  constructor() {
    this.byId.set(ROOT_ID, { nodeid: ROOT_ID, ino: 0, path: '', others: undefined, nlookup: 1, detached: false, node: undefined, gen: 0 });
  }

  get size(): number {
    return this.byId.size;
  }

  /** The node for `nodeid`, or an ESTALE-style failure when the kernel names a forgotten one. */
  get(nodeid: number): TableNode {
    const n = this.byId.get(nodeid);
    if (n === undefined) throw Object.assign(new Error(`unknown node id ${nodeid}`), { code: 'ESTALE' });
    return n;
  }

  /** The node id the object with overlay inode number `ino` has now, if the kernel knows it. */
  idOf(ino: number): number | undefined {
    return this.byIno.get(ino);
  }

  /** Records a lookup the kernel will hold (one reference), returning the node id for `ino`. */
  remember(ino: number, path: string): number {
    let nodeid = this.byIno.get(ino);
    const n = nodeid === undefined ? undefined : this.byId.get(nodeid);
    if (n === undefined) {
      nodeid = this.nextId++;
      // Every field set at creation: one object shape, properties in-object (200k of these is common).
      this.byId.set(nodeid, { nodeid, ino, path, others: undefined, nlookup: 1, detached: false, node: undefined, gen: 0 });
      this.byIno.set(ino, nodeid);
    } else {
      n.nlookup++;
      // `path` becomes the name used; the one used so far stays known as another name.
      if (n.detached) n.others = undefined;
      else if (n.path !== path && !(n.others?.includes(n.path) ?? false)) (n.others ??= []).push(n.path);
      if (n.others !== undefined) {
        n.others = n.others.filter((o) => o !== path);
        if (n.others.length === 0) n.others = undefined;
      }
      n.path = path;
      n.detached = false;
    }
    return nodeid!;
  }

  /**
   * The object of `nodeid` has overlay inode number `ino` now (a copy-up that did not keep the
   * number): later lookups of it must answer the same node id, which the kernel knows.
   */
  rebind(nodeid: number, ino: number): void {
    const n = this.byId.get(nodeid);
    if (n === undefined || nodeid === ROOT_ID || n.ino === ino) return;
    if (this.byIno.get(n.ino) === nodeid) this.byIno.delete(n.ino);
    n.ino = ino;
    this.byIno.set(ino, nodeid);
  }

  /** The next lookup of this object gets a new node id (the kernel a new inode); the old stays until forgotten. */
  renew(nodeid: number): void {
    const n = this.byId.get(nodeid);
    if (n !== undefined && this.byIno.get(n.ino) === nodeid) this.byIno.delete(n.ino);
  }

  /**
   * The node `nodeid` lost its name `path` (unlink, rmdir, renamed over): it must not follow it. A
   * hard link keeps being reached through another of its names.
   */
  detach(nodeid: number, path: string): void {
    const n = this.byId.get(nodeid);
    if (n === undefined || nodeid === ROOT_ID) return;
    if (n.path !== path) {
      n.others = n.others?.filter((o) => o !== path);
      return;
    }
    const other = n.others?.pop();
    if (other === undefined) {
      n.detached = true;
      // Its inode number may be reused by a new object (ext4 recycles them): that one must get a
      // node id of its own, not this one with what the kernel cached for it.
      if (this.byIno.get(n.ino) === nodeid) this.byIno.delete(n.ino);
    } else n.path = other;
    if (n.others?.length === 0) n.others = undefined;
  }

  /** Drops `count` of the kernel's references; true when that was the last (the node is gone). */
  forget(nodeid: number, count: number): boolean {
    if (nodeid === ROOT_ID) return false;
    const n = this.byId.get(nodeid);
    if (n === undefined) return false;
    n.nlookup -= count;
    if (n.nlookup > 0) return false;
    this.byId.delete(nodeid);
    if (this.byIno.get(n.ino) === nodeid) this.byIno.delete(n.ino);
    return true;
  }

  /** After a rename of a non-directory: node `nodeid` is reached at `to`, no longer at `from`. */
  renamed(nodeid: number, from: string, to: string): void {
    const n = this.byId.get(nodeid);
    if (n === undefined || n.detached) return;
    if (n.path === from) n.path = to;
    else if (n.others !== undefined) n.others = n.others.map((o) => (o === from ? to : o));
  }

  /** After a rename: every node at or below `from` now lives under `to`. */
  moved(from: string, to: string, exchanged: boolean): void {
    const a = from + '/', b = to + '/';
    const move = (p: string) => {
      if (p === from || p.startsWith(a)) return to + p.slice(from.length);
      if (exchanged && (p === to || p.startsWith(b))) return from + p.slice(to.length);
      return p;
    };
    for (const n of this.byId.values()) {
      if (n.nodeid === ROOT_ID || n.detached) continue;
      n.path = move(n.path);
      if (n.others !== undefined) n.others = n.others.map(move);
    }
  }
}
