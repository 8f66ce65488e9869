/** What the store records about images (images.json): the shapes shared by its modules. */
import type { Descriptor, Digest } from '../types';

export interface StoredLayer {
  /** the layer blob as distributed (compressed or not) */
  blob: Descriptor;
  diffID: Digest;
  /** bytes of the uncompressed tar */
  size: number;
}

export interface ImageRecord {
  /** manifest digest: the image's identity */
  digest: Digest;
  mediaType: string;
  config: Descriptor;
  layers: StoredLayer[];
  /** the config's `created` */
  created?: string;
  /** when it was stored */
  added: string;
  /** bytes of its blobs (manifest, config, layers as distributed) */
  size: number;
}

export interface ImagesFile {
  version: number;
  images: Record<Digest, ImageRecord>;
  /** "name:tag" -> manifest digest */
  tags: Record<string, Digest>;
}

/** An image with its tags, as listed. */
export interface ImageInfo extends ImageRecord {
  tags: string[];
}
