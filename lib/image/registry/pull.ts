/**
 * Pull and push between a registry and the store, on the generic copy (lib/image/copy.ts): a pull
 * copies docker://REF into the store (only the layers it lacks, several at once, each verified and
 * extracted as it streams, the image recorded only at the end); a push copies a stored image to
 * docker://REF (only the blobs the registry lacks) and answers the pushed manifest's digest.
 */
import { copyImage, CopyOptions, CopyResult } from '../copy';
import type { Store } from '../store/store';
import { StoreDestination, StoreSource } from '../store/transport';
import type { Digest, Platform } from '../types';
import { BlobLocations } from './blob-locations';
import { ClientOptions } from './client';
import { DestinationOptions, DockerDestination } from './destination';
import { RegistryError } from './errors';
import { formatReference, parseReference } from './reference';
import { DockerSource } from './source';
import * as path from 'node:path';

export interface PullOptions extends ClientOptions {
  platform?: Platform;
  /** layers downloaded at once (default 3) */
  concurrency?: number;
  onProgress?: CopyOptions['onProgress'];
  signal?: AbortSignal;
}

export interface PullResult extends CopyResult {
  /** the normalized reference the image is tagged as (undefined when pulled by digest only) */
  tag?: string;
  /** bytes received from the registry, retried ranges included */
  received: number;
}

/** Where a store remembers which registry repositories hold which blobs (for cross-repository mounts). */
function locationsOf(store: Store): BlobLocations {
  return new BlobLocations(path.join(store.root, 'registry-blobs.json'));
}

export async function pullImage(store: Store, reference: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const tag = ref.tag !== undefined ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag }) : undefined;
  let received = 0;
  const src = new DockerSource(ref, { ...opts, blobLocations: locationsOf(store), onBytes: (n) => (received += n) });
  let dest: StoreDestination | undefined;
  try {
    dest = await StoreDestination.open(store, tag);
    const r = await copyImage(src, dest, {
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { ...r, ...(tag !== undefined ? { tag } : {}), received };
  } finally {
    await dest?.close();
    await src.close();
  }
}

export interface PushOptions extends ClientOptions {
  concurrency?: number;
  onProgress?: CopyOptions['onProgress'];
  onBlob?: DestinationOptions['onBlob'];
  /** upload blobs in PATCH chunks of this size (default: one PUT per blob) */
  chunkSize?: number;
  signal?: AbortSignal;
}

/** Pushes the stored image `image` (a name, a digest or a prefix) to `reference`; resolves with the manifest's digest. */
export async function pushImage(store: Store, image: string, reference: string, opts: PushOptions = {}): Promise<{ digest: Digest; reference: string; copied: number; skipped: number }> {
  const ref = parseReference(reference);
  const img = store.image(image);
  const src = new StoreSource(store, img);
  const dest = new DockerDestination(ref, { ...opts, blobLocations: locationsOf(store) });
  try {
    const r = await copyImage(src, dest, {
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (dest.manifestDigest === undefined) throw new RegistryError('REGISTRY', `nothing was pushed to ${dest.reference}`);
    return { digest: dest.manifestDigest, reference: dest.reference, copied: r.copied, skipped: r.skipped };
  } finally {
    await dest.close();
  }
}
