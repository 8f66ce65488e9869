import { LRUCache } from 'lru-cache';
import { LruMap } from './lru';
import type { OverlayConfig } from './config';
import type { DirIndex } from './dir-index';
import { LayerStack } from './layers';
import { InodeNumbers, OverlayNode } from './node';
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
  /** Merged path -> node. Layers do not change under us except through the engine, which invalidates. */
  readonly nodes: LruMap<string, OverlayNode>;
  /** Lookups per merged directory not yet indexed (its index is built after a few). */
  readonly dirLookups: LruMap<string, number>;
  /** Merged paths known not to exist. */
  readonly negative: LruMap<string, true>;
  /** Merged directory path -> which layer holds which name (bounded by names held). */
  readonly dirIndexes: LRUCache<string, DirIndex>;
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
    this.nodes = new LruMap(config.cache.nodes);
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

  /** Forgets what is cached about one merged path (after it changed). */
  invalidate(path: string): void {
    this.generation++;
    if (path === '') this.root = null;
    this.nodes.delete(path);
    this.negative.delete(path);
    this.dirIndexes.delete(path);
  }

  /**
   * After a name in directory `path` came or went: its listing and index are stale, its node (the
   * same layer directories) is not.
   */
  invalidateListing(path: string): void {
    this.generation++;
    this.dirIndexes.delete(path);
    this.dirLookups.delete(path);
  }

  /** Forgets a path and everything below it (after a directory moved or went away). */
  invalidateTree(path: string): void {
    this.generation++;
    if (path === '') this.root = null;
    const under = path === '' ? '' : path + '/';
    for (const cache of [this.nodes, this.negative, this.dirIndexes] as { keys(): Iterable<string>; delete(k: string): boolean }[]) {
      for (const key of [...cache.keys()]) if (key === path || key.startsWith(under)) cache.delete(key);
    }
    this.stack.forgetUpperDirs(path);
  }

  close(): void {
    this.nodes.clear();
    this.negative.clear();
    this.dirIndexes.clear();
    this.work?.close();
    this.stack.close();
  }
}
