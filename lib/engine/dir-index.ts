import * as sys from '../sys';
import type { OverlayContext } from './context';
import type { OverlayNode } from './node';
import { OCI_OPAQUE_MARKER, OCI_WHITEOUT_PREFIX } from './whiteout';

/**
 * Which layer directories of a merged directory hold which name, built from one readdir of each.
 * A lookup then touches only the layers that have the name: with 500 layers, a name present only in
 * the bottom one costs one stat, not 500 failing probes.
 */
export interface DirIndex {
  /** Every name in first-seen order (top layer's readdir order, then new names from each lower). */
  readonly names: string[];
  /**
   * name -> positions in the directory's `entries` holding it, ascending. A position `p` is encoded
   * as `2p` for an object and `2p + 1` for an OCI `.wh.` whiteout, so at the same layer the object sorts
   * first (a layer's own whiteout hides only what lies below it).
   */
  readonly hits: Map<string, number[]>;
  /** d_type and real inode number of each name's top hit, aligned with `names`. */
  readonly types: number[];
  readonly inos: number[];
}

export function buildDirIndex(ctx: OverlayContext, dir: OverlayNode): DirIndex {
  const names: string[] = [];
  const hits = new Map<string, number[]>();
  const types: number[] = [];
  const inos: number[] = [];
  const add = (name: string, code: number, type: number, ino: number) => {
    const list = hits.get(name);
    if (list === undefined) {
      hits.set(name, [code]);
      names.push(name);
      types.push(type);
      inos.push(ino);
    } else {
      list.push(code);
    }
  };
  dir.entries.forEach((entry, pos) => {
    const listing = sys.readdir(entry.layer.dirFd(entry.path));
    const whiteouts: string[] = [];
    for (let i = 0; i < listing.names.length; i++) {
      const name = listing.names[i];
      if (name.startsWith(OCI_WHITEOUT_PREFIX)) {
        if (name !== OCI_OPAQUE_MARKER) whiteouts.push(name.slice(OCI_WHITEOUT_PREFIX.length));
        continue;
      }
      add(name, 2 * pos, listing.types[i], listing.inos[i]);
    }
    for (const name of whiteouts) add(name, 2 * pos + 1, sys.DT.UNKNOWN, 0);
  });
  for (const list of hits.values()) if (list.length > 1) list.sort((a, b) => a - b);
  ctx.stats.dirIndexBuilds++;
  return { names, hits, types, inos };
}

/** The index of merged directory `dir`, from the cache or built now. */
export function dirIndexOf(ctx: OverlayContext, dir: OverlayNode): DirIndex {
  let index = ctx.dirIndexes.get(dir.serial);
  if (index === undefined) {
    index = buildDirIndex(ctx, dir);
    ctx.dirIndexes.set(dir.serial, index);
  } else {
    ctx.stats.dirIndexHits++;
  }
  return index;
}

export function isOciWhiteoutHit(code: number): boolean {
  return (code & 1) === 1;
}

export function hitPosition(code: number): number {
  return code >> 1;
}
