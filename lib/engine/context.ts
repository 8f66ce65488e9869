import { LRUCache } from 'lru-cache';
import { LruMap } from './lru';
import type { OverlayConfig } from './config';
import type { DirIndex } from './dir-index';
import { LayerStack } from './layers';
import { InodeNumbers, OverlayNode, childKey } from './node';
import { OverlayXattrs } from './xattr-names';
import { WorkDir } from './workdir';
import { EventEmitter } from 'node:events';

/** Counters a caller can read to see what the caches do. */
export interface EngineStats {
  lookups: number;
  nodeCacheHits: number;
  negativeCacheHits: number;
  dirIndexBuilds: number;
  dirIndexHits: number;
  layerProbes: number;
  copyUps: number;
  metaCopyUps: number;
  copyUpBytes: number;
  /** creates that took a file made ahead of time (lib/engine/file-pool.ts) */
  pooledCreates: number;
}

/** What every engine module shares: the layer stack, naming rules, caches, counters. */
export class OverlayContext {
  readonly stack: LayerStack;
  readonly xattrs: OverlayXattrs;
  readonly inodes = new InodeNumbers();
  /**
   * Child key (`childKey`: the parent node's serial and the name) -> node, as the kernel's dcache
   * keys dentries by parent and name: a rename moves one entry, and what lies below a moved
   * directory stays keyed under it.
   */
  readonly nodes: LruMap<string, OverlayNode>;
  /** Nodes a holder needs to stay current (the FUSE side's), kept here when the LRU lets them go. */
  readonly held = new Map<string, OverlayNode>();
  /** Lookups per merged directory (by node serial) not yet indexed (its index is built after a few). */
  readonly dirLookups: LruMap<number, number>;
  /**
   * Merged path -> node, for the calls that name objects by path (the path API, and the FUSE side's
   * changes): a hit is used only while its node is cached, not stale, and still at that path, so
   * a long path is walked once, not at every call.
   */
  readonly byPath: LruMap<string, OverlayNode>;
  /** Child keys known not to exist. */
  readonly negative: LruMap<string, true>;
  /** Merged directory (by node serial) -> which layer holds which name (bounded by names held). */
  readonly dirIndexes: LRUCache<number, DirIndex>;
  readonly stats: EngineStats = {
    lookups: 0, nodeCacheHits: 0, negativeCacheHits: 0, dirIndexBuilds: 0, dirIndexHits: 0, layerProbes: 0,
    copyUps: 0, metaCopyUps: 0, copyUpBytes: 0, pooledCreates: 0,
  };
  /** The work directory; null on a read-only overlay. */
  readonly work: WorkDir | null;
  /** Copy-ups in flight by merged path: a second caller waits for the first one's copy. */
  readonly copyUpsInFlight = new Map<string, Promise<unknown>>();
  /** 'copy-up' ({ path, bytes, method, metadataOnly, ms }) and 'error' events. */
  readonly events = new EventEmitter();

  constructor(readonly config: OverlayConfig) {
    this.stack = new LayerStack(config.lower, config.upper, config.cache.dirFds);
    this.xattrs = new OverlayXattrs(config.userxattr);
    try {
      this.work = this.stack.upper !== null && config.work !== null ? new WorkDir(config.work, this.stack.upper, config.mountpoint) : null;
    } catch (err) {
      this.stack.close();
      throw err;
    }
    // A held node the LRU lets go stays reachable: its holder must keep seeing changes through it.
    this.nodes = new LruMap(config.cache.nodes, (node, key) => {
      if (node.holds > 0 && !node.stale && !this.closing) this.held.set(key, node);
      else node.cached = false;
    });
    this.byPath = new LruMap(256);
    this.negative = new LruMap(Math.max(1, config.cache.nodes >> 2));
    this.dirLookups = new LruMap(4096);
    this.dirIndexes = new LRUCache({
      maxSize: config.cache.dirIndexNames,
      sizeCalculation: (index) => Math.max(1, index.names.length),
    });
  }

  /** How much each cache holds now (entries, or names for directory indexes). */
  cacheSizes(): { nodes: number; negative: number; dirIndexNames: number; dirFds: number } {
    return { nodes: this.nodes.size, negative: this.negative.size, dirIndexNames: this.dirIndexes.calculatedSize, dirFds: this.stack.openDirFds };
  }

  /** The root node, rebuilt after the root changes. */
  root: OverlayNode | null = null;
  /** Counts changes: a node taken while it is unchanged is still current. */
  generation = 0;

  private closing = false;

  /** The node cached for `name` in directory `parent`, or undefined. */
  cachedChild(parent: OverlayNode, name: string): OverlayNode | undefined {
    const key = childKey(parent, name);
    return this.nodes.get(key) ?? this.held.get(key);
  }

  /** Caches `node` as `name` in `parent`; a node cached there before is stale now. */
  remember(parent: OverlayNode, name: string, node: OverlayNode): void {
    const key = childKey(parent, name);
    this.negative.delete(key);
    const old = this.nodes.take(key) ?? this.takeHeld(key);
    if (old !== undefined && old !== node) {
      old.stale = true;
      old.cached = false;
    }
    node.cached = true;
    this.nodes.set(key, node);
  }

  /** Takes the node cached for `name` in `parent` out of the caches (it moves, or goes: `stale`). */
  takeChild(parent: OverlayNode, name: string): OverlayNode | undefined {
    const key = childKey(parent, name);
    this.negative.delete(key);
    const node = this.nodes.take(key) ?? this.takeHeld(key);
    if (node !== undefined) node.cached = false;
    return node;
  }

  private takeHeld(key: string): OverlayNode | undefined {
    const node = this.held.get(key);
    if (node !== undefined) this.held.delete(key);
    return node;
  }

  /**
   * A holder needs `node` to stay the one its name leads to (until `release`). Its ancestors stay
   * with it, as a dentry pins its parent: its name is reached through them. `holds` counts a
   * node's own holds plus its children that have holds, so a hold walks up only as far as the
   * first ancestor held already. Returns the nodes it put back in the caches (see `keep`).
   */
  hold(node: OverlayNode): OverlayNode[] {
    const kept: OverlayNode[] = [];
    for (let n: OverlayNode | null = node; n !== null && n.holds++ === 0; n = n.parent) {
      if (this.keep(n)) kept.push(n);
    }
    return kept;
  }

  /**
   * Puts back a node held now that the LRU had let go already, unless another took its name.
   * Returns true when it did: the object may have changed since (the caller looks it up again).
   */
  private keep(n: OverlayNode): boolean {
    if (n.parent === null || n.stale) return false;
    const key = childKey(n.parent, n.name);
    if (this.nodes.has(key) || this.held.has(key)) return false;
    this.held.set(key, n);
    n.cached = true;
    return true;
  }

  release(node: OverlayNode): void {
    for (let n: OverlayNode | null = node; n !== null && --n.holds === 0; n = n.parent) {
      if (n.parent === null) break;
      const key = childKey(n.parent, n.name);
      if (this.held.get(key) === n) {
        this.held.delete(key);
        n.cached = false;
      }
    }
  }

  /** The node at merged path `path` when a recent walk found it and it is still the one there. */
  nodeAtPath(path: string): OverlayNode | undefined {
    const n = this.byPath.get(path);
    return n !== undefined && n.cached && !n.stale && n.path === path ? n : undefined;
  }

  /**
   * Before a rename moves each `node` into directory `to`: a held one now keeps its new ancestors
   * instead of its old ones (all taken first, so no ancestor is let go on the way).
   */
  moveHolds(moves: readonly { node: OverlayNode; to: OverlayNode }[]): void {
    const held = moves.filter((m) => m.node.holds > 0 && m.node.parent !== null);
    for (const m of held) this.hold(m.to);
    for (const m of held) this.release(m.node.parent!);
  }

  /** After a name in directory `dir` came or went: its listing and index are stale, its node is not. */
  listingChanged(dir: OverlayNode): void {
    this.generation++;
    this.forgetIndex(dir);
  }

  /** Drops what was learnt of directory `dir`'s names (its index, its lookups so far). */
  forgetIndex(dir: OverlayNode): void {
    this.dirIndexes.delete(dir.serial);
    this.dirLookups.delete(dir.serial);
  }

  close(): void {
    this.closing = true;
    this.nodes.clear();
    this.held.clear();
    this.byPath.clear();
    this.negative.clear();
    this.dirIndexes.clear();
    this.work?.close();
    this.stack.close();
  }
}
