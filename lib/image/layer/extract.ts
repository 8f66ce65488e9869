/**
 * extractLayer: a layer blob (tar, tar+gzip, tar+zstd) into a directory the overlay reads, with the
 * digests of the compressed and the uncompressed bytes computed as they stream.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Digest } from '../types';
import { LayerApplier } from './apply';
import { compressionOfMagic, compressionOfMediaType, decompress, peek, type CodecOptions } from './compression';
import { LayerError } from './errors';
import { readTar } from './tar-reader';

export interface ExtractOptions {
  /** an existing (empty) directory on the store's filesystem */
  dest: string;
  /** the descriptor's media type; the compression is told by the bytes, this only has to be a layer type */
  mediaType?: string;
  /** the digest of the blob as given (compressed); EDIGEST when the bytes differ */
  expectedDigest?: Digest;
  /** the diff ID (digest of the uncompressed tar) when known; EDIGEST when the tar differs */
  expectedDiffID?: Digest;
  /** called with the blob bytes read so far */
  onProgress?(bytes: number): void;
  signal?: AbortSignal;
  /** the overlay's private xattrs in the user. namespace (an overlay mounted with userxattr) */
  userxattr?: boolean;
  /**
   * The layer directories already extracted below this one, top first: a parent directory the
   * tar leaves out takes the metadata of the same directory there, so the merged view keeps it.
   */
  lower?: string[];
  /** decompression in a child process when the program is there ('auto'), or in this process */
  codec?: CodecOptions['engine'];
}

export interface LayerDigests {
  /** sha256 of the blob (compressed) */
  digest: Digest;
  /** the blob's size */
  size: number;
  /** sha256 of the uncompressed tar */
  diffID: Digest;
  uncompressedSize: number;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function validate(opts: ExtractOptions): void {
  if (opts === null || typeof opts !== 'object') throw new LayerError('EINVAL', 'extractLayer: options must be an object with dest');
  if (typeof opts.dest !== 'string' || opts.dest === '') throw new LayerError('EINVAL', 'extractLayer: dest must be a directory path');
  let st: fs.Stats;
  try {
    st = fs.statSync(opts.dest);
  } catch {
    throw new LayerError('EINVAL', `extractLayer: dest ${opts.dest} does not exist`);
  }
  if (!st.isDirectory()) throw new LayerError('EINVAL', `extractLayer: dest ${opts.dest} is not a directory`);
  if (opts.lower !== undefined && (!Array.isArray(opts.lower) || opts.lower.some((l) => typeof l !== 'string' || !fs.existsSync(l)))) {
    throw new LayerError('EINVAL', 'extractLayer: lower must be an array of existing layer directories (top first)');
  }
  if (opts.mediaType !== undefined && compressionOfMediaType(opts.mediaType) === null) {
    throw new LayerError('EINVAL', `extractLayer: ${opts.mediaType} is not a layer media type`);
  }
  for (const k of ['expectedDigest', 'expectedDiffID'] as const) {
    const d = opts[k];
    if (d !== undefined && (typeof d !== 'string' || !DIGEST_RE.test(d))) {
      throw new LayerError('EINVAL', `extractLayer: ${k} must be sha256:<64 hex digits>, got ${JSON.stringify(d)}`);
    }
  }
}

/** Passes chunks through, hashing and counting them. */
async function* tap(input: AsyncIterable<Buffer>, hash: crypto.Hash, count: { n: number }, each?: (n: number) => void,
  signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    if (signal?.aborted) throw abortError(signal);
    hash.update(chunk);
    count.n += chunk.length;
    each?.(count.n);
    yield chunk;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason instanceof Error ? signal.reason.message : 'aborted';
  return Object.assign(new Error(`layer extraction aborted: ${reason}`), { name: 'AbortError', code: 'ABORT_ERR' });
}

/**
 * Extracts a layer blob into `dest`. Resolves with the blob's digest and size and the diff ID once
 * every entry is written (directory times last). On any error (EBADTAR for a hostile or damaged
 * tar, EDIGEST, ECOMPRESSION, an abort, a system error) it rejects and leaves dest as it is for the
 * caller to remove; nothing is ever written outside dest.
 */
export async function extractLayer(input: Readable | AsyncIterable<Buffer>, opts: ExtractOptions): Promise<LayerDigests> {
  validate(opts);
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const blobHash = crypto.createHash('sha256');
  const tarHash = crypto.createHash('sha256');
  const blobCount = { n: 0 };
  const tarCount = { n: 0 };
  const applier = new LayerApplier(opts.dest, { userxattr: opts.userxattr, lower: opts.lower });
  let ok = false;
  let plain = false;
  try {
    const blob = tap(input, blobHash, blobCount, opts.onProgress, opts.signal);
    const { head, all } = await peek(blob, 4);
    const compression = compressionOfMagic(head) ?? 'none';
    // an uncompressed blob is its own tar: hashed once
    const tar = compression === 'none' ? all : tap(decompress(all, compression, { engine: opts.codec }), tarHash, tarCount);
    plain = compression === 'none';
    for await (const entry of readTar(tar)) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      await applier.apply(entry);
    }
    applier.finish();
    ok = true;
  } finally {
    if (!ok) {
      applier.close();
      const s = input as Readable;
      if (typeof s.destroy === 'function') s.destroy();
    }
  }
  const digest = 'sha256:' + blobHash.digest('hex');
  const diffID = plain ? digest : 'sha256:' + tarHash.digest('hex');
  if (plain) tarCount.n = blobCount.n;
  if (opts.expectedDigest !== undefined && digest !== opts.expectedDigest) {
    throw new LayerError('EDIGEST', `layer digest mismatch: expected ${opts.expectedDigest}, got ${digest} (${blobCount.n} bytes)`);
  }
  if (opts.expectedDiffID !== undefined && diffID !== opts.expectedDiffID) {
    throw new LayerError('EDIGEST', `layer diff ID mismatch: expected ${opts.expectedDiffID}, got ${diffID}`);
  }
  return { digest, size: blobCount.n, diffID, uncompressedSize: tarCount.n };
}
