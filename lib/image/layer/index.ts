/** The layer codec: layer tarballs in and out (docs/formats.md, "Image layers"). */
export { extractLayer } from './extract';
export type { ExtractOptions, LayerDigests } from './extract';
export { writeLayerDiff } from './diff';
export type { LayerDiffOptions } from './diff';
export { readTar, parsePax, parsePaxTime } from './tar-reader';
export type { TarEntry, EntryType, TarTime, SparseSegment, ReadTarOptions } from './tar-reader';
export { TarWriter, buildTar, encodeHeaders } from './tar-writer';
export type { TarWriteEntry, TarSink } from './tar-writer';
export { compress, decompress, compressionOfMagic, compressionOfMediaType, layerMediaType, findProgram, peek } from './compression';
export type { Compression, CodecOptions } from './compression';
export { LayerError, badTar } from './errors';
export type { LayerErrorCode } from './errors';
export { LayerApplier, layerPath, OCI_WHITEOUT_PREFIX, OCI_OPAQUE } from './apply';
export type { ApplyOptions } from './apply';
