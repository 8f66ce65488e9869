/**
 * images.json: images by manifest digest and tags, read whole and replaced whole (by rename, under
 * the store lock) by every change, so a reader always sees a consistent file.
 */
import { sha256 } from '../digest';
import { ImageError } from '../errors';
import { parseTag } from '../reference';
import type { Digest, ImageConfig, ImageManifest } from '../types';
import { findImage } from './find';
import { readJson, writeFileAtomic } from './fsutil';
import { withLock } from './lock';
import type { ImageInfo, ImageRecord, ImagesFile, StoredLayer } from './records';
import type { Store } from './store';

export function readImages(store: Store): ImagesFile {
  const f = readJson<ImagesFile>(store.layout.imagesFile);
  if (f === undefined) throw new ImageError('EFORMAT', `store ${store.root}: images.json is missing`);
  return f;
}

/** Read, change, replace by rename, under the store lock. */
export async function updateImages<T>(store: Store, fn: (f: ImagesFile) => T): Promise<T> {
  return withLock(store.layout.storeLock, 'exclusive', () => {
    const f = store.readImages();
    const r = fn(f);
    writeFileAtomic(store.layout.imagesFile, JSON.stringify(f, null, 1));
    return r;
  });
}

/** Every image, with its tags, newest first. */
export function listImages(store: Store): ImageInfo[] {
  const f = store.readImages();
  const tags = new Map<Digest, string[]>();
  for (const [t, d] of Object.entries(f.tags)) tags.set(d, [...(tags.get(d) ?? []), t]);
  return Object.values(f.images)
    .map((r) => ({ ...r, tags: (tags.get(r.digest) ?? []).sort() }))
    .sort((a, b) => b.added.localeCompare(a.added));
}

/** The image `ref` names (see findImage), with its tags; ENOTFOUND when none. */
export function getImage(store: Store, ref: string): ImageInfo {
  const f = store.readImages();
  const found = findImage(f, ref);
  if (found === undefined) throw new ImageError('ENOTFOUND', `image "${ref}" not found`);
  const tags = Object.entries(f.tags).filter(([, d]) => d === found.digest).map(([t]) => t).sort();
  return { ...found, tags };
}

/** Records an image (kept as it was if already there) and points `tag` (if given) at it. */
export async function addImage(store: Store, rec: ImageRecord, tag?: string): Promise<void> {
  const t = tag === undefined ? undefined : parseTag(tag).full;
  await store.updateImages((f) => {
    f.images[rec.digest] = f.images[rec.digest] ?? rec;
    if (t !== undefined) f.tags[t] = rec.digest;
  });
}

/** Points `name[:tag]` at the image `ref`. */
export async function tagImage(store: Store, ref: string, tag: string): Promise<ImageInfo> {
  const t = parseTag(tag).full;
  const img = store.image(ref);
  await store.updateImages((f) => {
    if (f.images[img.digest] === undefined) throw new ImageError('ENOTFOUND', `image "${ref}" not found`);
    f.tags[t] = img.digest;
  });
  return store.image(img.digest);
}

/** The image record described by a manifest whose blobs are all in the store. */
export function recordOf(store: Store, manifestBytes: Buffer, mediaType: string): ImageRecord {
  const digest = sha256(manifestBytes);
  let m: ImageManifest;
  try {
    m = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  } catch {
    throw new ImageError('EFORMAT', `manifest ${digest} is not JSON`);
  }
  if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new ImageError('EFORMAT', `manifest ${digest} is not an image manifest (an index or an old schema?)`);
  }
  const config = JSON.parse(store.readBlob(m.config.digest).toString('utf8')) as ImageConfig;
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== m.layers.length) {
    throw new ImageError('EFORMAT', `manifest ${digest}: ${m.layers.length} layers but the config lists ${diffIDs.length} diff_ids`);
  }
  const layers = m.layers.map((blob, i): StoredLayer => {
    const diffID = store.layerOf(blob.digest);
    if (diffID === undefined) throw new ImageError('ENOTFOUND', `layer ${blob.digest} is not in the store`);
    if (diffID !== diffIDs[i]) throw new ImageError('EFORMAT', `layer ${i + 1} (${blob.digest}) has diffID ${diffID}, the config says ${diffIDs[i]}`);
    return { blob: { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }, diffID, size: store.layerSize(diffID) };
  });
  return {
    digest,
    mediaType: m.mediaType ?? mediaType,
    config: { mediaType: m.config.mediaType, digest: m.config.digest, size: m.config.size },
    layers,
    created: config.created,
    added: new Date().toISOString(),
    size: manifestBytes.length + m.config.size + m.layers.reduce((n, l) => n + l.size, 0),
  };
}
