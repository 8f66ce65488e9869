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

/**
 * An object of the merged tree. `entries` is its stack of real objects, top first: for a directory
 * every layer directory merged into it (ending at an opaque one); for anything else the one object
 * that shows, plus, for a metacopy upper, the lower object that holds its data.
 */
export class OverlayNode {
  constructor(
    /** Merged path without leading slash ('' = root). */
    readonly path: string,
    readonly ino: number,
    readonly entries: readonly RealEntry[],
    /** Index in `entries` of the object whose data is read (differs from 0 for a metacopy upper). */
    readonly dataIndex: number,
    /** For a directory: the top entry is opaque (or merging stopped below it). */
    readonly opaque: boolean,
    /** For a directory whose lower entries hold xattr whiteouts (`overlay.opaque=x`), per entry. */
    readonly xwhiteouts: readonly boolean[],
  ) {}

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

  get name(): string {
    return splitPath(this.path).name;
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
