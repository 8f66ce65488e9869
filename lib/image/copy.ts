/**
 * The generic copy (containers/image's copy.Image): reads an ImageSource and writes an
 * ImageDestination, whatever each one is. Picks a platform from an index, skips the blobs the
 * destination has, streams each blob from source to destination (into the store: extracted while it
 * downloads, no full temporary copy), several at once, and reports progress per blob.
 */
import { Transform } from 'node:stream';
import { sha256 } from './digest';
import { ImageError } from './errors';
import { hostPlatform, selectManifest } from './platform';
import type { BlobProgress, Descriptor, Digest, ImageDestination, ImageIndex, ImageManifest, ImageSource, Platform, RawManifest } from './types';
import { MediaType } from './types';

export interface CopyOptions {
  /** the platform to pick from an index (default: this machine's) */
  platform?: Platform;
  /** blobs in flight at once (default 3) */
  concurrency?: number;
  /** called as each blob moves: waiting, downloading (bytes), done, or present (skipped) */
  onProgress?: (p: BlobProgress) => void;
  signal?: AbortSignal;
}

export interface CopyResult {
  /** the digest of the manifest written (a single-platform manifest) */
  digest: Digest;
  manifest: RawManifest;
  /** blobs copied and blobs the destination already had */
  copied: number;
  skipped: number;
  bytes: number;
}

function isIndex(mt: string, parsed: { manifests?: unknown }): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList || (mt === '' && Array.isArray(parsed.manifests));
}

/** The single-platform manifest a source names (resolving an index for `platform`). */
export async function resolveManifest(src: ImageSource, platform: Platform = hostPlatform()): Promise<{ raw: RawManifest; manifest: ImageManifest }> {
  let raw = await src.getManifest();
  for (let depth = 0; depth < 3; depth++) {
    const parsed = parseJson(raw.bytes, src.reference);
    const mt = raw.mediaType || parsed.mediaType || '';
    if (!isIndex(mt, parsed)) {
      if (!parsed.config || !Array.isArray(parsed.layers)) throw new ImageError('EFORMAT', `${src.reference}: not an image manifest (media type "${mt}")`);
      return { raw: { bytes: raw.bytes, mediaType: mt || MediaType.OciManifest }, manifest: parsed as ImageManifest };
    }
    const desc = selectManifest(parsed as ImageIndex, platform);
    raw = await src.getManifest(desc.digest);
    if (sha256(raw.bytes) !== desc.digest) throw new ImageError('EFORMAT', `${src.reference}: manifest ${desc.digest} does not match its digest`);
  }
  throw new ImageError('EFORMAT', `${src.reference}: indexes nested too deep`);
}

function parseJson(bytes: Buffer, ref: string): { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] } {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ImageError('EFORMAT', `${ref}: the manifest is not JSON`);
  }
}

/** Runs `fn` over `items` with at most `n` at once; the first failure aborts the rest. */
async function eachLimited<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export async function copyImage(src: ImageSource, dest: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  const concurrency = opts.concurrency ?? 3;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ImageError('EINVAL', `concurrency must be a positive integer, got ${concurrency}`);
  const report = opts.onProgress ?? (() => undefined);
  const { raw, manifest } = await resolveManifest(src, opts.platform);
  // the config first: a destination may need it to place the layers (docker-archive)
  const blobs = [manifest.config, ...manifest.layers];
  const unique = blobs.filter((b, i) => blobs.findIndex((o) => o.digest === b.digest) === i);
  for (const b of unique) report({ digest: b.digest, state: 'waiting', bytes: 0, total: b.size });
  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  const one = async (b: Descriptor) => {
    opts.signal?.throwIfAborted();
    if (await dest.hasBlob(b)) {
      skipped++;
      report({ digest: b.digest, state: 'present', bytes: b.size, total: b.size });
      return;
    }
    let n = 0;
    let last = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        n += chunk.length;
        if (n - last >= 256 * 1024) {
          last = n;
          report({ digest: b.digest, state: 'downloading', bytes: n, total: b.size });
        }
        cb(null, chunk);
      },
    });
    report({ digest: b.digest, state: 'downloading', bytes: 0, total: b.size });
    const data = await src.getBlob(b, { signal: opts.signal });
    data.on('error', (e) => counter.destroy(e));
    await dest.putBlob(b, data.pipe(counter), { signal: opts.signal });
    copied++;
    bytes += n;
    report({ digest: b.digest, state: 'done', bytes: n, total: b.size });
  };
  await one(manifest.config);
  await eachLimited(unique.slice(1), concurrency, one);
  await dest.putManifest(raw);
  await dest.commit();
  return { digest: sha256(raw.bytes), manifest: raw, copied, skipped, bytes };
}
