import type { Stat } from '../sys';
import { S } from '../sys';
import type { Layer } from './layers';

/** One real object in one layer: `path` is relative to the layer root ('' = the root itself). */
export interface RealEntry {
  readonly layer: Layer;
  readonly path: string;
  readonly stat: Stat;
}

/** Splits a layer-relative path into its parent directory and final name. */
export function splitPath(rel: string): { dir: string; name: string } {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? { dir: '', name: rel } : { dir: rel.slice(0, slash), name: rel.slice(slash + 1) };
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Bumped by every rename in any overlay: memoized merged paths taken before it are recomputed. */
let pathEpoch = 0;

/** Names moved: every node's merged path is recomputed at its next use (no scan of what is held). */
export function pathsMoved(): void {
  pathEpoch++;
}

let nextSerial = 1;

/** The cache key of name `name` in directory node `parent`. */
export function childKey(parent: OverlayNode, name: string): string {
  return `${parent.serial}/${name}`;
}

/**
 * The upper object of a node: it always lives at the node's merged path (the upper layer has no
 * redirects), which is not stored but read from the node, so a rename of an ancestor moves it too.
 */
class UpperEntry implements RealEntry {
  constructor(readonly owner: OverlayNode, readonly layer: Layer, readonly stat: Stat) {}

  get path(): string {
    return this.owner.path;
  }
}

/**
 * An object of the merged tree, as the kernel's dentry plus ovl_entry: its parent and name (its
 * merged path is derived from them, never stored for good), and its stack of real objects, top first:
 * for a directory every layer directory merged into it (ending at an opaque one); for anything else
 * the one object that shows, plus, for a metacopy upper, the lower object that holds its data.
 * A node is changed in place when its object changes (copy-up, new markers), moved when it is renamed,
 * and marked `stale` when its name no longer leads to it.
 */
export class OverlayNode {
  /** Unique per node object: the caches key children by it. */
  readonly serial = nextSerial++;
  /** The name no longer leads to this object (removed, replaced, renamed over). */
  stale = false;
  /** In the caches (`nodes` or `held`): the node its name leads to, as long as it is there. */
  cached = false;
  /**
   * Holders that need this node to stay the one its name leads to (the FUSE side's open nodes),
   * plus its children that have holds (a held node keeps its ancestors: OverlayContext.hold).
   */
  holds = 0;
  private memoPath = '';
  private memoEpoch = -1;
  entries: readonly RealEntry[];
  /** Index in `entries` of the object whose data is read (differs from 0 for a metacopy upper). */
  dataIndex: number;
  /** For a directory: the top entry is opaque (or merging stopped below it). */
  opaque: boolean;
  /** For a directory whose lower entries hold xattr whiteouts (`overlay.opaque=x`), per entry. */
  xwhiteouts: readonly boolean[];

  constructor(
    /** The directory it was found in; null for the root. */
    public parent: OverlayNode | null,
    /** Its name in `parent` ('' for the root). */
    public name: string,
    public ino: number,
    entries: readonly RealEntry[],
    dataIndex: number,
    opaque: boolean,
    xwhiteouts: readonly boolean[],
  ) {
    this.entries = this.own(entries);
    this.dataIndex = dataIndex;
    this.opaque = opaque;
    this.xwhiteouts = xwhiteouts;
  }

  /** Takes what a fresh lookup found for the same object (after a copy-up or a change of markers). */
  update(from: OverlayNode): void {
    this.ino = from.ino;
    this.entries = this.own(from.entries);
    this.dataIndex = from.dataIndex;
    this.opaque = from.opaque;
    this.xwhiteouts = from.xwhiteouts;
    this.lowerXattrNames = undefined;
  }

  /** Now reached as `name` in `parent`. */
  moveTo(parent: OverlayNode, name: string): void {
    this.parent = parent;
    this.name = name;
    pathsMoved();
  }

  private own(entries: readonly RealEntry[]): readonly RealEntry[] {
    return entries.map((e) => (e.layer.isUpper && !(e instanceof UpperEntry && e.owner === this) ? new UpperEntry(this, e.layer, e.stat) : e));
  }

  /** Merged path without leading slash ('' = root), from the names up to the root. */
  get path(): string {
    if (this.memoEpoch === pathEpoch) return this.memoPath;
    // Iterative (trees may be 10,000 deep): up to the nearest node whose path is current, then down.
    const chain: OverlayNode[] = [];
    let n: OverlayNode | null = this;
    while (n !== null && n.memoEpoch !== pathEpoch) {
      chain.push(n);
      n = n.parent;
    }
    let path = n === null ? '' : n.memoPath;
    for (let i = chain.length - 1; i >= 0; i--) {
      const c = chain[i];
      path = c.parent === null ? '' : path === '' ? c.name : `${path}/${c.name}`;
      c.memoPath = path;
      c.memoEpoch = pathEpoch;
    }
    return path;
  }

  /**
   * The stored xattr names of the top object, once asked, when it is in a lower layer (which never
   * changes): xattr.ts answers a name it lacks without asking the layer.
   */
  lowerXattrNames: string[] | undefined = undefined;

  get top(): RealEntry {
    return this.entries[0];
  }

  get type(): number {
    return this.entries[0].stat.mode & S.IFMT;
  }

  get isDir(): boolean {
    return this.type === S.IFDIR;
  }

  /** A directory that merges more than one layer directory. */
  get isMerged(): boolean {
    return this.isDir && this.entries.length > 1;
  }

  get isUpper(): boolean {
    return this.entries[0].layer.isUpper;
  }

  get dataEntry(): RealEntry {
    return this.entries[this.dataIndex];
  }
}

const LAYER_SHIFT = 2 ** 43;

/**
 * Inode numbers unique across layers and stable for an object: the real inode number with the
 * layer index in the high bits (like the kernel's xino). Real numbers too large to share the 53
 * bits a JS number holds get a number from a private counter instead (still unique, not stable across runs).
 */
export class InodeNumbers {
  private readonly big = new Map<string, number>();
  private next = 2 ** 53 - 1;

  of(entry: RealEntry): number {
    return this.compose(entry.layer.index, entry.stat.ino);
  }

  compose(layerIndex: number, ino: number): number {
    if (ino < LAYER_SHIFT) return layerIndex * LAYER_SHIFT + ino;
    const key = `${layerIndex}:${ino}`;
    let n = this.big.get(key);
    if (n === undefined) {
      n = this.next--;
      this.big.set(key, n);
    }
    return n;
  }
}
