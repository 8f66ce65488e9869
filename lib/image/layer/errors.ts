/**
 * Errors of the layer codec: one clear line for the user, a code for programs.
 * - EBADTAR: the tar is malformed or hostile (the message names the entry)
 * - EDIGEST: the bytes do not match the digest they were announced with
 * - EINVAL: bad options
 * - ECOMPRESSION: the compressed stream is damaged or its decompressor failed
 */
export type LayerErrorCode = 'EBADTAR' | 'EDIGEST' | 'EINVAL' | 'ECOMPRESSION';

export class LayerError extends Error {
  readonly code: LayerErrorCode;
  /** the tar entry concerned, when there is one */
  readonly entry: string | undefined;
  constructor(code: LayerErrorCode, message: string, entry?: string) {
    super(message);
    this.name = 'LayerError';
    this.code = code;
    this.entry = entry;
  }
}

export function badTar(message: string, entry?: string): LayerError {
  return new LayerError('EBADTAR', entry === undefined ? `bad layer tar: ${message}` : `bad layer tar: ${JSON.stringify(entry)}: ${message}`, entry);
}
