/**
 * Where a store lives and what is in it (docs/formats.md, "Image store"):
 *
 *   ROOT/store.lock              flock: held exclusively for a moment around each metadata update
 *   ROOT/gc.lock                 flock: shared by writers (import, commit), exclusive for rm/prune
 *   ROOT/images.json             images by manifest digest, tags -> digest (replaced by rename)
 *   ROOT/blobs/sha256/HEX        verified blobs: manifests, configs, layers as distributed
 *   ROOT/diffids/HEX             for a layer blob: its diffID (uncompressed digest), written last
 *   ROOT/layers/HEX/diff/        a layer extracted once (HEX = its diffID), whiteouts in overlay form
 *   ROOT/layers/HEX/layer.json   { diffID, size } of the extracted layer
 *   ROOT/containers/ID/          upper/, work/, rootfs/ (default mountpoint), container.json
 *   ROOT/tmp/NAME/               work in progress, owned by a live process (flock on the directory)
 */
import * as os from 'node:os';
import * as path from 'node:path';

export const STORE_VERSION = 1;

/** The default store: /var/lib/layerfs for root, $XDG_DATA_HOME/layerfs otherwise; LAYERFS_ROOT wins. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAYERFS_ROOT) return path.resolve(env.LAYERFS_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/layerfs';
  const data = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'layerfs');
}

export class Layout {
  constructor(readonly root: string) {}
  get storeLock(): string { return path.join(this.root, 'store.lock'); }
  get gcLock(): string { return path.join(this.root, 'gc.lock'); }
  get imagesFile(): string { return path.join(this.root, 'images.json'); }
  get blobsDir(): string { return path.join(this.root, 'blobs', 'sha256'); }
  get diffidsDir(): string { return path.join(this.root, 'diffids'); }
  get layersDir(): string { return path.join(this.root, 'layers'); }
  get containersDir(): string { return path.join(this.root, 'containers'); }
  get tmpDir(): string { return path.join(this.root, 'tmp'); }
  blob(hex: string): string { return path.join(this.blobsDir, hex); }
  diffid(blobHex: string): string { return path.join(this.diffidsDir, blobHex); }
  layer(diffHex: string): string { return path.join(this.layersDir, diffHex); }
  layerDiff(diffHex: string): string { return path.join(this.layersDir, diffHex, 'diff'); }
  container(id: string): string { return path.join(this.containersDir, id); }
}
