/**
 * `--image REF`: an image's layers from the image store (lib/image/store), as they are, replace the
 * generated tree. The store is being built on its own branch; until it lands (or when it offers no
 * way to list an image's layer directories), --image says so and the run stops before measuring.
 *
 * The hook: the store module exports
 *   imageLayerDirs(ref: string): Promise<{ lower: string[]; release?(): void | Promise<void> }>
 * with `lower` the unpacked layer directories, top first, readable as overlay lower layers.
 * setImageLayerResolver() lets a library caller supply it instead.
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

function storeResolver(): ImageLayerResolver {
  let mod: { imageLayerDirs?: unknown };
  try {
    // Loaded by name at run time: the store lives on its own branch until it is merged.
    mod = require(['..', 'image', 'store'].join('/')) as { imageLayerDirs?: unknown };
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
    throw new ImageUnavailableError('--image: the image store (lib/image/store) is not part of this build yet; name the layer directories with --layers TOP:...:BOTTOM instead');
  }
  if (typeof mod.imageLayerDirs !== 'function') {
    throw new ImageUnavailableError('--image: this build\'s image store does not list an image\'s layer directories (imageLayerDirs); name them with --layers TOP:...:BOTTOM instead');
  }
  return mod.imageLayerDirs as ImageLayerResolver;
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
