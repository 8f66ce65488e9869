/**
 * The layer codec the store uses (lib/image/layer: extractLayer, writeLayerDiff), behind one
 * seam so a test can put another in its place.
 */
import type { Readable, Writable } from 'node:stream';
import * as layer from '../layer';
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
  expectedDiffID?: Digest;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface DiffOptions {
  /** the image's layer directories, top first */
  lower: string[];
  upper: string;
  /** ended by the codec once the layer is written */
  out: Writable;
  compression: 'gzip' | 'zstd' | 'none';
}

export interface LayerCodec {
  extractLayer(input: Readable, opts: ExtractOptions): Promise<LayerResult>;
  writeLayerDiff(opts: DiffOptions): Promise<LayerResult>;
}

const builtIn: LayerCodec = { extractLayer: layer.extractLayer, writeLayerDiff: layer.writeLayerDiff };
let codec: LayerCodec = builtIn;

export function layerCodec(): LayerCodec {
  return codec;
}

/** For tests: use this codec instead (undefined: the built-in one again). */
export function setLayerCodec(c: LayerCodec | undefined): void {
  codec = c ?? builtIn;
}
