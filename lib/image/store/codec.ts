/**
 * The layer codec the store uses: lib/image/layer (extractLayer, writeLayerDiff) when it is there.
 * Until it lands, extraction falls back to GNU tar (OCI whiteouts stay as `.wh.` files, which the
 * engine reads as whiteouts) so the rest of the store can be built and tested.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompress } from '../compression';
import { DigestStream } from '../digest';
import type { Digest } from '../types';

export interface LayerResult {
  digest: Digest;
  size: number;
  diffID: Digest;
  uncompressedSize: number;
}

export interface ExtractOptions {
  dest: string;
  mediaType?: string;
  expectedDigest?: Digest;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface DiffOptions {
  lower: string[];
  upper: string;
  out: NodeJS.WritableStream | string;
  compression: 'gzip' | 'zstd' | 'none';
}

export interface LayerCodec {
  extractLayer(input: Readable, opts: ExtractOptions): Promise<LayerResult>;
  writeLayerDiff?(opts: DiffOptions): Promise<LayerResult>;
}

let codec: LayerCodec | undefined;

export function layerCodec(): LayerCodec {
  if (codec) return codec;
  try {
    // not a static import: the module is written on another branch
    const mod = require('../layer') as Partial<LayerCodec>;
    if (typeof mod.extractLayer === 'function') codec = mod as LayerCodec;
  } catch {
    /* not there yet */
  }
  codec ??= { extractLayer: tarExtract };
  return codec;
}

/** For tests: use this codec instead. */
export function setLayerCodec(c: LayerCodec | undefined): void {
  codec = c;
}

async function tarExtract(input: Readable, opts: ExtractOptions): Promise<LayerResult> {
  const compressed = new DigestStream({ digest: opts.expectedDigest, what: 'layer' }, opts.onProgress);
  const plain = new DigestStream();
  const tar = spawn('tar', ['-x', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-p', '--same-owner', '-C', opts.dest, '-f', '-'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  tar.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number>((res) => tar.once('close', (c) => res(c ?? 1)));
  const counted = new PassThrough();
  const unpacked = pipeline(input, compressed, counted, { signal: opts.signal });
  unpacked.catch(() => undefined); // awaited below; an input failing before the sniff must not go unhandled
  await Promise.all([unpacked, pipeline(await decompress(counted), plain, tar.stdin!)]);
  const code = await exited;
  if (code !== 0) throw Object.assign(new Error(`layer: tar: ${err.trim().split('\n')[0]}`), { code: 'EFORMAT' });
  return { digest: compressed.digest!, size: compressed.bytes, diffID: plain.digest!, uncompressedSize: plain.bytes };
}
