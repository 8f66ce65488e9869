/** The store as an ImageDestination (import, pull) and as an ImageSource (export, push). */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { sha256 } from '../digest';
import { ImageError } from '../errors';
import type { Descriptor, Digest, ImageDestination, ImageSource, RawManifest } from '../types';
import { MediaType } from '../types';
import { FileLock } from './lock';
import { isLayerMediaType } from '../media';
import type { ImageRecord } from './records';
import type { Store } from './store';

/**
 * Writes into the store: blobs verified and kept, layers extracted as they stream in, the image
 * recorded (and tagged `tag`) at commit(). Holds the store's gc lock (shared) until close(), so a
 * concurrent rm/prune never removes a blob this copy has written but not yet referenced.
 */
export class StoreDestination implements ImageDestination {
  readonly reference: string;
  private record: ImageRecord | undefined;
  private constructor(private store: Store, private tag: string | undefined, private gcLock: FileLock) {
    this.reference = `store:${tag ?? ''}`;
  }

  static async open(store: Store, tag?: string): Promise<StoreDestination> {
    return new StoreDestination(store, tag, await FileLock.acquire(store.layout.gcLock, 'shared'));
  }

  /** The image recorded by commit() */
  get image(): ImageRecord | undefined {
    return this.record;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (isLayerMediaType(desc.mediaType)) return this.store.layerOf(desc.digest) !== undefined;
    return this.store.hasBlob(desc.digest);
  }

  async putBlob(desc: Descriptor, data: Readable, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (isLayerMediaType(desc.mediaType)) await this.store.putLayer(desc, data, opts);
    else await this.store.putBlob(desc, data);
  }

  async putManifest(m: RawManifest): Promise<void> {
    if (m.mediaType === MediaType.OciIndex || m.mediaType === MediaType.DockerManifestList) {
      throw new ImageError('EFORMAT', 'the store keeps one platform per image: copy a manifest, not an index');
    }
    const rec = this.store.recordOf(m.bytes, m.mediaType);
    await this.store.putBlob({ mediaType: m.mediaType, digest: rec.digest, size: m.bytes.length }, m.bytes);
    this.record = rec;
  }

  async commit(): Promise<void> {
    if (this.record === undefined) throw new ImageError('EINVAL', 'commit before any manifest was written');
    await this.store.addImage(this.record, this.tag);
  }

  async close(): Promise<void> {
    this.gcLock.release();
  }
}

/** Reads an image of the store (for export and push): its manifest and blobs as they were stored. */
export class StoreSource implements ImageSource {
  readonly reference: string;
  constructor(private store: Store, private img: ImageRecord) {
    this.reference = `store:${img.digest}`;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const d = digest ?? this.img.digest;
    const bytes = this.store.readBlob(d);
    if (sha256(bytes) !== d) throw new ImageError('EFORMAT', `blob ${d} is damaged (its digest differs)`);
    return { bytes, mediaType: d === this.img.digest ? this.img.mediaType : (JSON.parse(bytes.toString()).mediaType ?? MediaType.OciManifest) };
  }

  async getBlob(desc: Descriptor, opts: { offset?: number } = {}): Promise<Readable> {
    const p = this.store.blobPath(desc.digest);
    if (!fs.existsSync(p)) throw new ImageError('ENOTFOUND', `blob ${desc.digest} not in the store`);
    return fs.createReadStream(p, { start: opts.offset ?? 0 });
  }

  async close(): Promise<void> {}
}
