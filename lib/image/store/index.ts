/** The image store (store.ts), its copy ends (transport.ts), and the bench's hook. */
import { Store } from './store';
import { FileLock } from './lock';

export { Store, isLayerMediaType } from './store';
export type { StoreOptions, ImageRecord, ImageInfo, StoredLayer, TempDir } from './store';
export { StoreDestination, StoreSource } from './transport';
export { defaultRoot, Layout } from './layout';

/**
 * The extracted layer directories of an image of the default store (LAYERFS_ROOT...), top first,
 * as `layerfs bench --image REF` reads them. The store's gc lock is held (shared) until
 * `release()`, so no rm/prune removes them meanwhile.
 */
export async function imageLayerDirs(ref: string, opts: { root?: string } = {}): Promise<{ lower: string[]; release(): void }> {
  const store = await Store.open({ root: opts.root });
  const lock = await FileLock.acquire(store.layout.gcLock, 'shared');
  try {
    const img = store.image(ref);
    const lower = img.layers.map((l) => store.layerDir(l.diffID)).reverse();
    return {
      lower,
      release: () => {
        lock.release();
        store.close();
      },
    };
  } catch (err) {
    lock.release();
    store.close();
    throw err;
  }
}
