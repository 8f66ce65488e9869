/**
 * Removal: rmi (untag, then drop the image when no tag is left) and the collection of blobs and
 * layers that no image and no container uses. Both run under the gc lock held exclusively, which
 * writers (import, commit) hold shared while they have objects nothing references yet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestHex } from '../digest';
import { ImageError } from '../errors';
import { parseTag } from '../reference';
import type { Digest } from '../types';
import { looksLikeDigest } from './find';
import { diskUsage, readJson } from './fsutil';
import { withLock } from './lock';
import type { Store } from './store';

export interface Collected {
  blobs: number;
  layers: number;
  bytes: number;
}

/**
 * Removes the tag `ref` names, and the image when no tag is left (or `ref` is a digest); then the
 * blobs and layers nothing else uses. Refuses an image a container uses.
 */
export async function removeImage(store: Store, ref: string, containersUsing: (digest: Digest) => string[]): Promise<{ untagged: string[]; removed: Digest[] }> {
  return withLock(store.layout.gcLock, 'exclusive', async () => {
    const img = store.image(ref);
    const byTag = !looksLikeDigest(ref) && !ref.includes('@');
    const tagName = byTag ? parseTag(ref).full : undefined;
    const result = await store.updateImages((f) => {
      const untagged = tagName !== undefined ? [tagName] : Object.keys(f.tags).filter((t) => f.tags[t] === img.digest);
      const left = Object.keys(f.tags).filter((t) => f.tags[t] === img.digest && !untagged.includes(t));
      const removed: Digest[] = [];
      if (left.length === 0) {
        const users = containersUsing(img.digest);
        if (users.length > 0) throw new ImageError('EINUSE', `image "${ref}" is used by container ${users.join(', ')}`);
        delete f.images[img.digest];
        removed.push(img.digest);
      }
      for (const t of untagged) delete f.tags[t];
      return { untagged, removed };
    });
    if (result.removed.length > 0) store.collect();
    return result;
  });
}

/** Removes every blob and layer no image and no container uses. Call with the gc lock held. */
export function collect(store: Store, containerLayers: Digest[]): Collected {
  const f = store.readImages();
  const blobs = new Set<string>();
  const layers = new Set<string>(containerLayers.map(digestHex));
  for (const img of Object.values(f.images)) {
    blobs.add(digestHex(img.digest));
    blobs.add(digestHex(img.config.digest));
    for (const l of img.layers) {
      blobs.add(digestHex(l.blob.digest));
      layers.add(digestHex(l.diffID));
    }
  }
  const { layout } = store;
  let nb = 0;
  let nl = 0;
  let bytes = 0;
  for (const hex of fs.readdirSync(layout.blobsDir)) {
    if (blobs.has(hex)) continue;
    bytes += fs.lstatSync(layout.blob(hex)).size;
    fs.rmSync(layout.diffid(hex), { force: true });
    fs.rmSync(layout.blob(hex), { force: true });
    nb++;
  }
  for (const hex of fs.readdirSync(layout.diffidsDir)) {
    if (!blobs.has(hex)) fs.rmSync(layout.diffid(hex), { force: true });
  }
  for (const hex of fs.readdirSync(layout.layersDir)) {
    if (layers.has(hex)) continue;
    bytes += diskUsage(layout.layer(hex));
    store.discard(layout.layer(hex));
    nl++;
  }
  return { blobs: nb, layers: nl, bytes };
}

/** The layers every container stands on (read from containers/ * /container.json). */
export function containerLayers(store: Store): Digest[] {
  const out: Digest[] = [];
  for (const id of fs.readdirSync(store.layout.containersDir)) {
    const c = readJson<{ layers?: Digest[] }>(path.join(store.layout.container(id), 'container.json'));
    out.push(...(c?.layers ?? []));
  }
  return out;
}

/** How many images use each layer (by diffID). */
export function layerUsers(store: Store): Map<Digest, number> {
  const users = new Map<Digest, number>();
  for (const img of Object.values(store.readImages().images)) for (const d of new Set(img.layers.map((l) => l.diffID))) users.set(d, (users.get(d) ?? 0) + 1);
  return users;
}
