/**
 * Layers: each blob extracted once into layers/DIFFID/diff (shared by every image and container
 * that uses it), either as it streams in (import, pull) or from a tar being written (commit).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { DigestStream, digestHex } from '../digest';
import { compress, Compression } from '../layer';
import type { Descriptor, Digest } from '../types';
import { MediaType } from '../types';
import { layerCodec, LayerResult } from './codec';
import { exists, readJson, writeFileAtomic } from './fsutil';
import { withLock } from './lock';
import type { Store } from './store';
import { Tee } from './tee';

/** The diffID of an extracted layer blob, or undefined when the blob or its layer is missing. */
export function layerOf(store: Store, blobDigest: Digest): Digest | undefined {
  let diffID: string;
  try {
    diffID = fs.readFileSync(store.layout.diffid(digestHex(blobDigest)), 'utf8').trim();
  } catch {
    return undefined;
  }
  return store.hasLayer(diffID) && store.hasBlob(blobDigest) ? diffID : undefined;
}

export function layerSize(store: Store, diffID: Digest): number {
  return readJson<{ size: number }>(path.join(store.layout.layer(digestHex(diffID)), 'layer.json'))?.size ?? 0;
}

/** The per-blob lock that makes concurrent writers of one layer blob wait for the first. */
function blobLock(store: Store, blob: Digest): string {
  fs.mkdirSync(path.join(store.root, 'locks'), { recursive: true });
  return path.join(store.root, 'locks', `${digestHex(blob)}.lock`);
}

/**
 * Keeps a layer blob and extracts it as it streams in (once: concurrent callers for one blob wait
 * for the first). The blob, then the extracted directory, then the blob's diffID are published,
 * each by rename, only when the bytes match `desc`.
 */
export async function putLayer(store: Store, desc: Descriptor, data: Readable, opts: { signal?: AbortSignal } = {}): Promise<{ diffID: Digest; size: number }> {
  return withLock(blobLock(store, desc.digest), 'exclusive', async () => {
    const have = store.layerOf(desc.digest);
    if (have !== undefined) {
      data.destroy();
      return { diffID: have, size: store.layerSize(have) };
    }
    const t = store.tempDir();
    try {
      const blobFile = path.join(t.path, 'blob');
      const layerDir = path.join(t.path, 'layer');
      fs.mkdirSync(path.join(layerDir, 'diff'), { recursive: true });
      const ac = new AbortController();
      opts.signal?.addEventListener('abort', () => ac.abort(opts.signal!.reason), { once: true });
      const file = fs.createWriteStream(blobFile);
      const forExtract = new PassThrough();
      // their errors reach us through `feeding` and `extracting`
      file.on('error', () => undefined);
      forExtract.on('error', () => undefined);
      const verify = new DigestStream({ digest: desc.digest, size: desc.size, what: `layer ${desc.digest}` });
      const feeding = pipeline(data, verify, new Tee([file, forExtract]), { signal: ac.signal }).then(() => finished(file));
      const extracting = layerCodec().extractLayer(forExtract, {
        dest: path.join(layerDir, 'diff'), mediaType: desc.mediaType, expectedDigest: desc.digest, signal: ac.signal,
      });
      const fail = (e: unknown) => {
        ac.abort(e);
        forExtract.destroy(e as Error);
        throw e;
      };
      const [fed, extracted] = await Promise.allSettled([feeding.catch(fail), extracting.catch(fail)]);
      if (fed.status === 'rejected') throw fed.reason;
      if (extracted.status === 'rejected') throw extracted.reason;
      const { diffID, uncompressedSize } = extracted.value;
      publishLayer(store, desc.digest, blobFile, layerDir, diffID, uncompressedSize);
      return { diffID, size: uncompressedSize };
    } finally {
      t.remove();
    }
  });
}

/**
 * Publishes a verified blob and its extracted layer (`layerDir/diff`), in the order that keeps a
 * crash harmless: the blob, then the layer directory, then the blob's diffID entry. Call with the
 * blob's lock held.
 */
function publishLayer(store: Store, blob: Digest, blobFile: string, layerDir: string, diffID: Digest, size: number): void {
  fs.writeFileSync(path.join(layerDir, 'layer.json'), JSON.stringify({ diffID, size }));
  if (!store.hasBlob(blob)) fs.renameSync(blobFile, store.blobPath(blob));
  if (!store.hasLayer(diffID)) {
    const target = store.layout.layer(digestHex(diffID));
    if (exists(target)) store.discard(target); // a half-published one can't exist, but a stray dir can
    fs.renameSync(layerDir, target);
  }
  writeFileAtomic(store.layout.diffid(digestHex(blob)), diffID);
}

/**
 * A new layer from a plain tar that `produce` writes (and ends): the tar is extracted and
 * compressed at the same time (two cores, one pass; no decompression of what was just compressed),
 * then blob and layer are published as putLayer does. For commit.
 */
export async function addLayerFromTar(store: Store, produce: (out: Writable) => Promise<unknown>, compression: Compression): Promise<{ blob: Descriptor; diffID: Digest; size: number }> {
  const t = store.tempDir();
  try {
    const blobFile = path.join(t.path, 'blob');
    const layerDir = path.join(t.path, 'layer');
    fs.mkdirSync(path.join(layerDir, 'diff'), { recursive: true });
    const hwm = 1 << 20;
    const plain = new PassThrough({ highWaterMark: hwm });
    const toExtract = new PassThrough({ highWaterMark: hwm });
    const toCompress = new PassThrough({ highWaterMark: hwm });
    const streams = [plain, toExtract, toCompress];
    for (const st of streams) st.on('error', () => undefined);
    const blobHash = new DigestStream();
    const jobs = [
      produce(plain),
      pipeline(plain, new Tee([toExtract, toCompress])),
      pipeline(Readable.from(compress(toCompress, compression)), blobHash, fs.createWriteStream(blobFile)),
      layerCodec().extractLayer(toExtract, { dest: path.join(layerDir, 'diff') }),
    ].map((j) => (j as Promise<unknown>).catch((e) => {
      for (const st of streams) st.destroy(e as Error);
      throw e;
    }));
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
    const { diffID, uncompressedSize } = (settled[3] as PromiseFulfilledResult<LayerResult>).value;
    const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
    const blob: Descriptor = { mediaType, digest: blobHash.digest!, size: blobHash.bytes };
    await withLock(blobLock(store, blob.digest), 'exclusive', () => {
      if (store.layerOf(blob.digest) === undefined) publishLayer(store, blob.digest, blobFile, layerDir, diffID, uncompressedSize);
    });
    return { blob, diffID, size: uncompressedSize };
  } finally {
    t.remove();
  }
}
