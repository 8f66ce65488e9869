/**
 * tarball:FILE: a root filesystem tarball (plain, gzip or zstd) as a one-layer image with a minimal
 * config for this machine's platform. Both digests are computed when the source opens (one read of
 * the file, decompressing it), so the copy can verify the bytes again as they stream.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { decompress, sniffCompression } from '../compression';
import { DigestStream, sha256 } from '../digest';
import { ImageError } from '../errors';
import { hostPlatform } from '../platform';
import type { Descriptor, Digest, ImageConfig, ImageManifest, ImageSource, RawManifest } from '../types';
import { MediaType } from '../types';

export class TarballSource implements ImageSource {
  private blobs = new Map<Digest, Buffer | null>();
  private constructor(readonly reference: string, private file: string, private manifest: Buffer) {}

  static async open(reference: string, file: string): Promise<TarballSource> {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      throw new ImageError('ENOTFOUND', `${reference}: no such file`);
    }
    const head = Buffer.alloc(4);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    const kind = sniffCompression(head);
    const compressed = new DigestStream();
    const plain = createHash('sha256');
    const raw = fs.createReadStream(file);
    raw.on('error', (e) => compressed.destroy(e));
    for await (const c of await decompress(raw.pipe(compressed))) plain.update(c as Buffer);
    const digest = compressed.digest!;
    const diffID = `sha256:${plain.digest('hex')}`;
    const p = hostPlatform();
    const created = st.mtime.toISOString();
    const config: ImageConfig = {
      created,
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [diffID] },
      history: [{ created, created_by: `layerfs image import ${reference}` }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const layer: Descriptor = {
      mediaType: kind === 'gzip' ? MediaType.OciLayerGzip : kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer,
      digest,
      size: st.size,
    };
    const m: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256(configBytes), size: configBytes.length },
      layers: [layer],
    };
    const src = new TarballSource(reference, file, Buffer.from(JSON.stringify(m)));
    src.blobs.set(m.config.digest, configBytes);
    src.blobs.set(digest, null);
    return src;
  }

  async getManifest(): Promise<RawManifest> {
    return { bytes: this.manifest, mediaType: MediaType.OciManifest };
  }

  async getBlob(desc: Descriptor, opts: { offset?: number } = {}): Promise<Readable> {
    if (!this.blobs.has(desc.digest)) throw new ImageError('ENOTFOUND', `${this.reference}: no blob ${desc.digest}`);
    const b = this.blobs.get(desc.digest);
    if (b) return (await import('node:stream')).Readable.from([b.subarray(opts.offset ?? 0)]);
    return fs.createReadStream(this.file, { start: opts.offset ?? 0 });
  }

  async close(): Promise<void> {}
}
