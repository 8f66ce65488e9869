/**
 * FUSE node ids for merged objects, as the kernel's inodes and dentries are: one node id per overlay
 * inode number (stable across copy-up and rename, shared by hard links, so the kernel sees one inode
 * per object); the root is 1. Each node holds the directory node it was reached in and its name
 * there (plus the other names of a hard link), never a path: a rename moves one node, and a path is
 * derived from the names up to the root only when the engine needs one. How many lookups the kernel
 * holds is counted; FORGET drops the node, so the table only holds what the kernel caches. An object
 * can be given a fresh node id (`renew`): the kernel then makes it a new inode at its next lookup,
 * while open files keep the old one.
 */
import type { OverlayNode } from '../engine';

/** One name of a node: `name` in directory node `parent`. */
export interface NameRef {
  parent: TableNode;
  name: string;
}

export interface TableNode {
  nodeid: number;
  ino: number;
  /** The directory node it was reached in (null for the root), and its name there. */
  parent: TableNode | null;
  name: string;
  /** Other names the kernel learned for it (hard links): when its name goes, one of these serves. */
  others: NameRef[] | undefined;
  nlookup: number;
  /** It lost its last name (unlinked or renamed over): only open files reach it. */
  detached: boolean;
  /** The engine's node for a directory (held, so the engine keeps it current), once asked. */
  node: OverlayNode | undefined;
  /** Its merged path, while no directory moved since (`pathEpoch`). */
  memoPath: string | undefined;
  memoEpoch: number;
}

export const ROOT_ID = 1;

export class NodeTable {
  private readonly byId = new Map<number, TableNode>();
  /** overlay inode number -> its current node id */
  private readonly byIno = new Map<number, number>();
  private nextId = ROOT_ID + 1;
  /** Bumped when a directory node moves: memoized paths below it must be derived again. */
  private pathEpoch = 0;
  readonly root: TableNode;

  /** @param dropped called with each node that leaves the table (forgotten by the kernel) */
  constructor(private readonly dropped: (n: TableNode) => void = () => undefined) {
    this.root = this.make(ROOT_ID, 0, null, '');
    this.byId.set(ROOT_ID, this.root);
  }

  get size(): number {
    return this.byId.size;
  }

  private make(nodeid: number, ino: number, parent: TableNode | null, name: string): TableNode {
    // Every field set at creation: one object shape, properties in-object (200k of these is common).
    return { nodeid, ino, parent, name, others: undefined, nlookup: 1, detached: false, node: undefined, memoPath: undefined, memoEpoch: -1 };
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

  /**
   * The merged path of node `n` ('' for the root), derived from its names up to the root: memoized
   * on directories (whose paths every request below them needs) until a directory moves.
   */
  pathOf(n: TableNode): string {
    if (n.parent === null) return '';
    if (n.memoEpoch === this.pathEpoch) return n.memoPath!;
    // Iterative (trees may be 10,000 deep): up to the nearest current memo, then down.
    const chain: TableNode[] = [];
    let at: TableNode | null = n;
    while (at !== null && at.parent !== null && at.memoEpoch !== this.pathEpoch) {
      chain.push(at);
      at = at.parent;
    }
    let path = at === null || at.parent === null ? '' : at.memoPath!;
    for (let i = chain.length - 1; i >= 0; i--) {
      const c = chain[i];
      path = path === '' ? c.name : `${path}/${c.name}`;
      if (c.node !== undefined) {
        c.memoPath = path;
        c.memoEpoch = this.pathEpoch;
      }
    }
    return path;
  }

  /** Records a lookup the kernel will hold (one reference) of `name` in `parent`, returning the node id for `ino`. */
  remember(ino: number, parent: TableNode, name: string): number {
    let nodeid = this.byIno.get(ino);
    const n = nodeid === undefined ? undefined : this.byId.get(nodeid);
    if (n === undefined) {
      nodeid = this.nextId++;
      this.byId.set(nodeid, this.make(nodeid, ino, parent, name));
      this.byIno.set(ino, nodeid);
      return nodeid;
    }
    n.nlookup++;
    if (n.parent === parent && n.name === name && !n.detached) return nodeid!;
    // The name used becomes its name; the one used so far stays known as another name.
    if (n.detached) n.others = undefined;
    else if (n.parent !== null && !hasName(n.others, n.parent, n.name)) (n.others ??= []).push({ parent: n.parent, name: n.name });
    n.others = withoutName(n.others, parent, name);
    this.place(n, parent, name);
    n.detached = false;
    return nodeid!;
  }

  private place(n: TableNode, parent: TableNode, name: string): void {
    n.parent = parent;
    n.name = name;
    // Paths memoized below it are stale: one counter, not a walk of the table.
    this.pathEpoch++;
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
   * The node `nodeid` lost its name `name` in `parent` (unlink, rmdir, renamed over): it must not
   * follow it. A hard link keeps being reached through another of its names.
   */
  detach(nodeid: number, parent: TableNode, name: string): void {
    const n = this.byId.get(nodeid);
    if (n === undefined || nodeid === ROOT_ID) return;
    if (n.parent !== parent || n.name !== name) {
      n.others = withoutName(n.others, parent, name);
      return;
    }
    const other = n.others?.pop();
    if (n.others?.length === 0) n.others = undefined;
    if (other === undefined) {
      n.detached = true;
      // Its inode number may be reused by a new object (ext4 recycles them): that one must get a
      // node id of its own, not this one with what the kernel cached for it.
      if (this.byIno.get(n.ino) === nodeid) this.byIno.delete(n.ino);
    } else this.place(n, other.parent, other.name);
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
    this.dropped(n);
    return true;
  }

  /** After a rename: node `nodeid` is reached as `to` in `toParent`, no longer as `from` in `fromParent`. */
  renamed(nodeid: number, fromParent: TableNode, from: string, toParent: TableNode, to: string): void {
    const n = this.byId.get(nodeid);
    if (n === undefined || n.detached || nodeid === ROOT_ID) return;
    if (n.parent === fromParent && n.name === from) this.place(n, toParent, to);
    else if (n.others !== undefined) {
      for (const o of n.others) {
        if (o.parent === fromParent && o.name === from) {
          o.parent = toParent;
          o.name = to;
        }
      }
    }
  }
}

function hasName(names: NameRef[] | undefined, parent: TableNode, name: string): boolean {
  return names !== undefined && names.some((o) => o.parent === parent && o.name === name);
}

function withoutName(names: NameRef[] | undefined, parent: TableNode, name: string): NameRef[] | undefined {
  if (names === undefined) return undefined;
  const kept = names.filter((o) => o.parent !== parent || o.name !== name);
  return kept.length === 0 ? undefined : kept;
}
