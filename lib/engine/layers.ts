import { LruMap } from './lru';
import * as sys from '../sys';

/** Relative paths are opened in pieces under PIECE + 255 characters: < PATH_MAX bytes in any UTF-8. */
const PIECE = 700;

/**
 * One real directory tree of the stack. Layer 0 is the upper (when there is one); lowers follow top
 * first. Every access below `root` goes through directory descriptors opened without following
 * symlinks (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so a hostile layer cannot point us outside.
 */
export class Layer {
  readonly rootFd: number;
  readonly dev: number;

  constructor(
    readonly index: number,
    readonly root: string,
    readonly isUpper: boolean,
    private readonly dirFds: LruMap<string, number>,
    /** The work dir's index of copied-up hard links: written by us, not a layer of the view. */
    readonly isIndex = false,
    /** Bumped when upper directories move or go (LayerStack.upperDirsMoved). */
    private readonly upperMoves: { count: number } = { count: 0 },
  ) {
    this.rootFd = sys.openat(sys.AT.FDCWD, root, sys.O.PATH | sys.O.DIRECTORY | sys.O.CLOEXEC);
    this.dev = sys.fstat(this.rootFd).dev;
  }

  /** Objects here change under the view (upper and index): their stat is read again, not cached. */
  get mutable(): boolean {
    return this.isUpper || this.isIndex;
  }

  /** An O_PATH descriptor of directory `rel` ('' = the layer root), cached; valid until the next call. */
  dirFd(rel: string): number {
    if (rel === '') return this.rootFd;
    // Upper directories move: their descriptors are keyed by the moves so far, so that one taken
    // before a move is never found by its old path (the stale ones age out of the LRU).
    const key = this.isUpper ? `${this.index}@${this.upperMoves.count}/${rel}` : `${this.index}/${rel}`;
    let fd = this.dirFds.get(key);
    if (fd === undefined) {
      fd = this.openDir(rel);
      this.dirFds.set(key, fd);
    }
    return fd;
  }

  /**
   * Opens directory `rel`. A path too long for one call (PATH_MAX counts bytes of the whole path)
   * is opened from its ancestor's descriptor, a piece at a time: trees may be any depth.
   */
  private openDir(rel: string): number {
    const flags = sys.O.PATH | sys.O.DIRECTORY | sys.O.CLOEXEC;
    if (rel.length <= PIECE) return sys.openBeneath(this.rootFd, rel, flags);
    // Cut at the last slash before a multiple of PIECE: every directory of a deep chain opens from
    // one of a few ancestors (cached), and the rest is < PIECE + 255 characters.
    const at = rel.lastIndexOf('/', Math.floor((rel.length - 1) / PIECE) * PIECE);
    if (at <= 0) return sys.openBeneath(this.rootFd, rel, flags);
    // The ancestor's descriptor is used before anything else can evict it from the cache.
    return sys.openBeneath(this.dirFd(rel.slice(0, at)), rel.slice(at + 1), flags);
  }

  close(): void {
    sys.close(this.rootFd);
  }
}

/** The ordered stack: `layers[0]` is the upper if present, then the lowers top first (lower i has index i + 1). */
export class LayerStack {
  readonly layers: Layer[];
  readonly upper: Layer | null;
  readonly lowers: Layer[];
  private readonly dirFds: LruMap<string, number>;
  private readonly upperMoves = { count: 0 };

  constructor(lower: string[], upper: string | null, maxDirFds: number) {
    this.dirFds = new LruMap<string, number>(maxDirFds, (fd) => sys.close(fd));
    const layers: Layer[] = [];
    try {
      if (upper !== null) layers.push(new Layer(0, upper, true, this.dirFds, false, this.upperMoves));
      // Lower i is layer i + 1 whether or not there is an upper, so inode numbers do not depend on it.
      lower.forEach((dir, i) => layers.push(new Layer(i + 1, dir, false, this.dirFds)));
    } catch (err) {
      for (const l of layers) l.close();
      throw err;
    }
    this.layers = layers;
    this.upper = upper === null ? null : layers[0];
    this.lowers = upper === null ? layers : layers.slice(1);
  }

  /** The layer answering statfs: the upper, or the top lower when read-only. */
  get top(): Layer {
    return this.layers[0];
  }

  /**
   * Upper directories moved or went away: no descriptor cached before is found by path again (one
   * count, no scan of the cache; the upper's directories are reopened as asked).
   */
  upperDirsMoved(): void {
    this.upperMoves.count++;
  }

  get openDirFds(): number {
    return this.dirFds.size;
  }

  close(): void {
    this.dirFds.clear();
    for (const l of this.layers) l.close();
  }
}
