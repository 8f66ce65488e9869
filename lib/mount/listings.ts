/**
 * Directory listings being read, by directory node id: taken at a directory's first READDIR and
 * kept while nothing changes (the engine's generation), so that offsets index one listing. Bounded:
 * a reader that stops midway is forgotten.
 */
import { LRUCache } from 'lru-cache';
import type { DirHandle, Overlay, OverlayNode } from '../engine';
import type { DirEntry } from '../fuse';

export class Listings {
  private readonly cache = new LRUCache<number, { gen: number; dir: DirHandle }>({ max: 256 });

  constructor(private readonly ov: Overlay) {}

  /** The listing being read of `nodeid`, if nothing changed since it was taken. */
  current(nodeid: number): DirHandle | undefined {
    const cached = this.cache.get(nodeid);
    return cached !== undefined && cached.gen === this.ov.generation ? cached.dir : undefined;
  }

  /** Takes a listing of the directory `node` for `nodeid`. */
  start(nodeid: number, node: OverlayNode): DirHandle {
    const gen = this.ov.generation;
    const dir = this.ov.opendir(node);
    this.cache.set(nodeid, { gen, dir });
    return dir;
  }

  /** Entries from `offset` to fill a reply of `size` bytes (the session packs what fits). */
  read(nodeid: number, dir: DirHandle, offset: number, size: number): DirEntry[] {
    const batch = dir.read(offset, Math.max(16, Math.ceil(size / 24)));
    // Read to its end: the kernel keeps the listing itself (FOPEN_CACHE_DIR) and will not ask
    // again unless the directory changes, so ours need not stay (256 big listings are megabytes).
    if (batch.length === 0) this.cache.delete(nodeid);
    return batch.map(({ entry, nextOffset }) => ({ name: entry.name, ino: entry.ino, type: entry.type, off: nextOffset }));
  }

  clear(): void {
    this.cache.clear();
  }
}
