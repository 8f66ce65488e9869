/** sha256 digests over streams: counted, verified, and passed through untouched. */
import { createHash, Hash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';
import type { Digest } from './types';

export class DigestError extends Error {
  readonly code = 'EDIGEST';
  constructor(message: string) {
    super(message);
  }
}

export function sha256(data: Buffer | string): Digest {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function digestHex(d: Digest): string {
  if (!/^sha256:[a-f0-9]{64}$/.test(d)) throw new DigestError(`unsupported or malformed digest "${d}"`);
  return d.slice(7);
}

/**
 * A pass-through that hashes and counts. With `expect`, it fails the stream at its end when the
 * digest or size differs (the consumer must not keep the data before the stream ends cleanly).
 */
export class DigestStream extends Transform {
  private hash: Hash = createHash('sha256');
  bytes = 0;
  digest: Digest | undefined;
  constructor(private expect?: { digest?: Digest; size?: number; what?: string }, private onBytes?: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.expect?.size !== undefined && this.expect.size >= 0 && this.bytes > this.expect.size) {
      return cb(new DigestError(`${this.expect.what ?? 'blob'}: more than the ${this.expect.size} bytes announced`));
    }
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.digest = 'sha256:' + this.hash.digest('hex');
    const e = this.expect;
    if (e?.size !== undefined && e.size >= 0 && this.bytes !== e.size) return cb(new DigestError(`${e.what ?? 'blob'}: ${this.bytes} bytes, ${e.size} announced`));
    if (e?.digest !== undefined && e.digest !== this.digest) return cb(new DigestError(`${e.what ?? 'blob'}: digest mismatch: got ${this.digest}, expected ${e.digest}`));
    cb();
  }
}
