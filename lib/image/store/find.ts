/** Finding an image of images.json by tag, digest or digest prefix. */
import { ImageError } from '../errors';
import { isDigest, parseReference, referenceName, withDefaultTag } from '../reference';
import type { ImageRecord, ImagesFile } from './records';

export function looksLikeDigest(ref: string): boolean {
  return isDigest(ref) || /^[a-f0-9]{4,64}$/.test(ref);
}

export function findImage(f: ImagesFile, ref: string): ImageRecord | undefined {
  if (isDigest(ref)) return f.images[ref];
  if (/^[a-f0-9]{4,64}$/.test(ref)) {
    const hits = Object.keys(f.images).filter((d) => d.slice(7).startsWith(ref));
    if (hits.length === 1) return f.images[hits[0]];
    if (hits.length > 1) throw new ImageError('EINVAL', `"${ref}" names ${hits.length} images: give more digits`);
  }
  let r;
  try {
    r = withDefaultTag(parseReference(ref));
  } catch {
    return undefined;
  }
  if (r.digest !== undefined) return f.images[r.digest];
  const d = f.tags[`${referenceName(r)}:${r.tag}`];
  return d === undefined ? undefined : f.images[d];
}
