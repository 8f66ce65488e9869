import { LRUCache } from 'lru-cache';
import type { OverlayConfig } from './config';
import type { DirIndex } from './dir-index';
import { LayerStack } from './layers';
import { InodeNumbers, OverlayNode } from './node';
import { OverlayXattrs } from './xattr-names';

/** Counters a caller can read to see what the caches do. */
export interface EngineStats {
  lookups: number;
  nodeCacheHits: number;
  negativeCacheHits: number;
  dirIndexBuilds: number;
  dirIndexHits: number;
  layerProbes: number;
}

/** What every engine module shares: the layer stack, naming rules, caches, counters. */
export class OverlayContext {
  readonly stack: LayerStack;
  readonly xattrs: OverlayXattrs;
  readonly inodes = new InodeNumbers();
  /** Merged path -> node. Layers do not change under us except through the engine, which invalidates. */
  readonly nodes: LRUCache<string, OverlayNode>;
  /** Merged paths known not to exist. */
  readonly negative: LRUCache<string, true>;
  /** Merged directory path -> which layer holds which name (bounded by names held). */
  readonly dirIndexes: LRUCache<string, DirIndex>;
  readonly stats: EngineStats = { lookups: 0, nodeCacheHits: 0, negativeCacheHits: 0, dirIndexBuilds: 0, dirIndexHits: 0, layerProbes: 0 };

  constructor(readonly config: OverlayConfig) {
    this.stack = new LayerStack(config.lower, config.upper, config.cache.dirFds);
    this.xattrs = new OverlayXattrs(config.userxattr);
    this.nodes = new LRUCache({ max: config.cache.nodes });
    this.negative = new LRUCache({ max: config.cache.nodes });
    this.dirIndexes = new LRUCache({
      maxSize: config.cache.dirIndexNames,
      sizeCalculation: (index) => Math.max(1, index.names.length),
    });
  }

  /** How much each cache holds now (entries, or names for directory indexes). */
  cacheSizes(): { nodes: number; negative: number; dirIndexNames: number; dirFds: number } {
    return { nodes: this.nodes.size, negative: this.negative.size, dirIndexNames: this.dirIndexes.calculatedSize, dirFds: this.stack.openDirFds };
  }

  close(): void {
    this.nodes.clear();
    this.negative.clear();
    this.dirIndexes.clear();
    this.stack.close();
  }
}
