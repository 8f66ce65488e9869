/**
 * `--image REF`: an image's layers from the image store (lib/image/store), as they are, replace the
 * generated tree (REF as `layerfs images` names it: name[:tag], name@digest, a digest prefix).
 * setImageLayerResolver() lets a library caller supply another source of layer directories
 * (top first, readable as overlay lower layers).
 */
import type { LayerSet } from './types';

export interface ImageLayers {
  lower: string[];
  release?(): void | Promise<void>;
}

export type ImageLayerResolver = (ref: string) => Promise<ImageLayers>;

let resolver: ImageLayerResolver | null = null;

/** Supplies the resolver (a library caller with its own store, or a test). */
export function setImageLayerResolver(fn: ImageLayerResolver | null): void {
  resolver = fn;
}

export class ImageUnavailableError extends Error {
  readonly code = 'ENOTSUP';
}

interface StoreModule {
  Store?: {
    open(opts?: { root?: string }): Promise<{
      image(ref: string): { layers: { diffID: string }[] };
      layerDir(diffID: string): string;
      close(): void;
    }>;
  };
}

/**
 * The image store's layers (lib/image/store): the store at LAYERFS_ROOT, /var/lib/layerfs as root,
 * else $XDG_DATA_HOME/layerfs; its layer directories are extracted in the kernel's overlay form, so
 * every implementation mounts them as they are.
 */
function storeResolver(): ImageLayerResolver {
  let mod: StoreModule;
  try {
    // Loaded at run time: a build without the store still runs every other workload.
    mod = require(['..', 'image', 'store', 'store'].join('/')) as StoreModule;
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    throw new ImageUnavailableError('--image: the image store (lib/image/store) is not part of this build; name the layer directories with --layers TOP:...:BOTTOM instead');
  }
  const Store = mod.Store;
  if (Store === undefined || typeof Store.open !== 'function') {
    throw new ImageUnavailableError('--image: this build\'s image store cannot be opened (no Store.open); name the layer directories with --layers TOP:...:BOTTOM instead');
  }
  return async (ref) => {
    const store = await Store.open();
    try {
      const img = store.image(ref);
      // The manifest lists layers bottom first; lowerdir= wants the top first.
      return { lower: img.layers.map((l) => store.layerDir(l.diffID)).reverse(), release: () => store.close() };
    } catch (err) {
      store.close();
      throw err;
    }
  };
}

/** The image's layers as the bench's tree set. */
export async function imageLayerSet(ref: string): Promise<{ set: LayerSet; release(): Promise<void> }> {
  const fn = resolver ?? storeResolver();
  const layers = await fn(ref);
  if (!Array.isArray(layers.lower) || layers.lower.length === 0) throw new ImageUnavailableError(`--image ${ref}: the store gave no layer directories`);
  return {
    set: { name: 'tree', lower: layers.lower, info: { image: ref, layers: layers.lower.length } },
    release: async () => {
      await layers.release?.();
    },
  };
}
