/**
 * The image store: content-addressed blobs, layers extracted once and shared, images by tag and by
 * manifest digest. Everything is written under tmp/ and published by rename once complete and
 * verified; metadata changes take the store lock for a moment (layout.ts has the map).
 *
 * This class is the store's face; the work is done by its modules: workarea.ts (tmp/), blobs.ts,
 * layers.ts, images.ts (images.json), gc.ts (rmi, prune), report.ts (check, df), transport.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { digestHex } from '../digest';
import { ImageError } from '../errors';
import { isDigest, parseTag } from '../reference';
import type { Descriptor, Digest, ImageConfig } from '../types';
import type { Compression } from '../layer';
import { exists, readJson, writeFileAtomic } from './fsutil';
import { defaultRoot, Layout, STORE_VERSION } from './layout';
import { withLock } from './lock';
import { WorkAreas, type TempDir } from './workarea';
import type { ImageInfo, ImageRecord, ImagesFile } from './records';
import * as blobs from './blobs';
import * as layers from './layers';
import * as images from './images';
import * as gc from './gc';
import { checkStore, diskFree, DiskUsage } from './report';
import { copyImage, CopyOptions, CopyResult } from '../copy';
import { Container, ContainerRecord, createContainer, getContainer, listContainerRecords, removeContainer } from '../container';
import { openDestination, openSource } from '../transports';
import type { ImageDestination, ImageSource } from '../types';
import { StoreDestination, StoreSource } from './transport';

export interface StoreOptions {
  /** the store directory (default: LAYERFS_ROOT, /var/lib/layerfs for root, else $XDG_DATA_HOME/layerfs) */
  root?: string;
}

export type { ImageInfo, ImageRecord, ImagesFile, StoredLayer } from './records';
export type { TempDir } from './workarea';
export { isLayerMediaType } from '../media';

export class Store {
  readonly layout: Layout;
  private readonly work: WorkAreas;

  private constructor(readonly root: string) {
    this.layout = new Layout(root);
    this.work = new WorkAreas(this.layout.tmpDir);
  }

  /** Opens (creating if needed) the store at `root`, and removes what killed processes left. */
  static async open(opts: StoreOptions = {}): Promise<Store> {
    if (opts === null || typeof opts !== 'object') throw new ImageError('EINVAL', 'Store.open() takes an options object');
    if (opts.root !== undefined && typeof opts.root !== 'string') throw new ImageError('EINVAL', 'root must be a path');
    const root = path.resolve(opts.root ?? defaultRoot());
    const s = new Store(root);
    const l = s.layout;
    for (const d of [root, l.blobsDir, l.diffidsDir, l.layersDir, l.containersDir, l.tmpDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    await withLock(l.storeLock, 'exclusive', () => {
      const f = readJson<ImagesFile>(l.imagesFile);
      if (f === undefined) writeFileAtomic(l.imagesFile, JSON.stringify({ version: STORE_VERSION, images: {}, tags: {} }));
      else if (f.version !== STORE_VERSION) throw new ImageError('EFORMAT', `store ${root}: version ${f.version} (this layerfs knows ${STORE_VERSION})`);
    });
    s.work.removeLeftovers();
    return s;
  }

  /** A fresh work area under tmp/, locked by this process (a crash leaves it to the next open). */
  tempDir(): TempDir {
    return this.work.create();
  }

  /** Takes `p` out of sight at once (rename into tmp/), then deletes it. */
  discard(p: string): void {
    this.work.discard(p);
  }

  /** Releases what this handle holds (its scratch area). */
  close(): void {
    this.work.close();
  }

  // ---------------------------------------------------------------- blobs

  blobPath(digest: Digest): string {
    return this.layout.blob(digestHex(digest));
  }

  hasBlob(digest: Digest): boolean {
    return exists(this.blobPath(digest));
  }

  readBlob(digest: Digest): Buffer {
    return blobs.readBlob(this, digest);
  }

  /** Keeps a blob once its bytes match `desc` (digest and size). */
  putBlob(desc: Descriptor, data: Readable | Buffer): Promise<void> {
    return blobs.putBlob(this, desc, data);
  }

  // ---------------------------------------------------------------- layers

  /** The diffID of an extracted layer blob, or undefined when the blob or its layer is missing. */
  layerOf(blobDigest: Digest): Digest | undefined {
    return layers.layerOf(this, blobDigest);
  }

  hasLayer(diffID: Digest): boolean {
    return exists(this.layout.layerDiff(digestHex(diffID)));
  }

  /** The directory a layer is extracted in (a lower of every mount that uses it). */
  layerDir(diffID: Digest): string {
    return this.layout.layerDiff(digestHex(diffID));
  }

  layerSize(diffID: Digest): number {
    return layers.layerSize(this, diffID);
  }

  /**
   * Keeps a layer blob and extracts it as it streams in (once: concurrent callers for one blob wait
   * for the first); published only when the bytes match `desc`.
   */
  putLayer(desc: Descriptor, data: Readable, opts: { signal?: AbortSignal } = {}): Promise<{ diffID: Digest; size: number }> {
    return layers.putLayer(this, desc, data, opts);
  }

  /** A new layer from a plain tar that `produce` writes (and ends), extracted and compressed in one pass. For commit. */
  addLayerFromTar(produce: (out: Writable) => Promise<unknown>, compression: Compression): Promise<{ blob: Descriptor; diffID: Digest; size: number }> {
    return layers.addLayerFromTar(this, produce, compression);
  }

  // ---------------------------------------------------------------- images

  /** images.json as it is now (replaced whole by every change, so always consistent). */
  readImages(): ImagesFile {
    return images.readImages(this);
  }

  /** Changes images.json under the store lock (read, change, replace by rename). */
  updateImages<T>(fn: (f: ImagesFile) => T): Promise<T> {
    return images.updateImages(this, fn);
  }

  /** Every image, with its tags, newest first. */
  images(): ImageInfo[] {
    return images.listImages(this);
  }

  /**
   * Finds an image by `name[:tag]` (`:latest` by default), `name@sha256:...`, `sha256:...`, or a
   * prefix (at least 4 hex digits) of its manifest digest.
   */
  image(ref: string): ImageInfo {
    return images.getImage(this, ref);
  }

  /** Records an image and points `tag` (if given) at it. */
  addImage(rec: ImageRecord, tag?: string): Promise<void> {
    return images.addImage(this, rec, tag);
  }

  /** Points `name[:tag]` at the image `ref`. */
  tag(ref: string, tag: string): Promise<ImageInfo> {
    return images.tagImage(this, ref, tag);
  }

  /** The image record described by a manifest whose blobs are all in the store. */
  recordOf(manifestBytes: Buffer, mediaType: string): ImageRecord {
    return images.recordOf(this, manifestBytes, mediaType);
  }

  config(img: ImageRecord): ImageConfig {
    return JSON.parse(this.readBlob(img.config.digest).toString('utf8')) as ImageConfig;
  }

  // ---------------------------------------------------------------- removal and reports

  /**
   * Removes the tag `ref` names, and the image when no tag is left (or `ref` is a digest); then the
   * blobs and layers nothing else uses. Refuses an image a container uses.
   */
  removeImage(ref: string, containersUsing: (digest: Digest) => string[]): Promise<{ untagged: string[]; removed: Digest[] }> {
    return gc.removeImage(this, ref, containersUsing);
  }

  /** Removes every blob and layer no image and no container uses. Call with the gc lock held. */
  collect(containerLayers: Digest[] = this.containerLayers()): gc.Collected {
    return gc.collect(this, containerLayers);
  }

  /** The layers every container stands on (read from containers/ * /container.json). */
  containerLayers(): Digest[] {
    return gc.containerLayers(this);
  }

  /** `prune`: removes unreferenced blobs and layers (and what killed processes left). */
  async prune(): Promise<gc.Collected> {
    return withLock(this.layout.gcLock, 'exclusive', () => {
      this.work.removeLeftovers();
      return this.collect();
    });
  }

  /** Holds the gc lock shared while `fn` writes objects that no image references yet. */
  async writing<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(this.layout.gcLock, 'shared', fn);
  }

  /** Space used: layers shared by several images, unique ones, blobs, containers (bytes on disk). */
  df(): DiskUsage {
    return diskFree(this);
  }

  /**
   * Checks the store (what `fsck` would): every image's manifest, config and layer blobs are there
   * and match their digests (`deep`: every blob is hashed), every layer is extracted and every
   * container's layers exist. Returns the problems found, none when consistent.
   */
  check(opts: { deep?: boolean } = {}): string[] {
    return checkStore(this, opts);
  }

  /** How many images use each layer (by diffID). */
  layerUsers(): Map<Digest, number> {
    return gc.layerUsers(this);
  }

  // ---------------------------------------------------------------- copies and containers

  /**
   * Imports an image: `source` is a transport reference (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
   * `docker-archive:FILE`, `tarball:FILE`, or any registered one such as `docker://`) or an open
   * ImageSource; `name` (`name[:tag]`) tags it. Layers are extracted as they stream in.
   */
  async import(source: string | ImageSource, name?: string, opts: CopyOptions = {}): Promise<ImageInfo> {
    const tag = name === undefined ? undefined : parseTag(name).full;
    const src = typeof source === 'string' ? await openSource(source) : source;
    try {
      const dest = await StoreDestination.open(this, tag);
      try {
        const r = await copyImage(src, dest, opts);
        return this.image(r.digest);
      } finally {
        await dest.close();
      }
    } finally {
      if (typeof source === 'string') await src.close();
    }
  }

  /** Exports an image of the store to a transport reference (`oci:DIR[:TAG]`...) or an open destination. */
  async export(image: string, destination: string | ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
    const img = this.image(image);
    const defaultName = img.tags[0] ?? (isDigest(image) || /^[a-f0-9]+$/.test(image) ? undefined : parseTag(image).full);
    const dest = typeof destination === 'string' ? await openDestination(destination, { defaultName }) : destination;
    try {
      return await copyImage(new StoreSource(this, img), dest, opts);
    } finally {
      if (typeof destination === 'string') await dest.close();
    }
  }

  /** The store as a copy destination (tagging `tag` at commit): `copyImage(source, await store.destination(tag))`. */
  destination(tag?: string): Promise<StoreDestination> {
    return StoreDestination.open(this, tag === undefined ? undefined : parseTag(tag).full);
  }

  /** An image of the store as a copy source (for push). */
  source(image: string): StoreSource {
    return new StoreSource(this, this.image(image));
  }

  createContainer(image: string, opts: { name?: string } = {}): Promise<Container> {
    return createContainer(this, image, opts);
  }

  containers(): ContainerRecord[] {
    return listContainerRecords(this);
  }

  container(nameOrId: string): Container {
    return getContainer(this, nameOrId);
  }

  removeContainer(nameOrId: string, opts: { force?: boolean } = {}): Promise<void> {
    return removeContainer(this, nameOrId, opts);
  }

  /** Removes an image (by tag: the tag; the image when no tag is left), refusing one a container uses. */
  rmi(ref: string): Promise<{ untagged: string[]; removed: Digest[] }> {
    return this.removeImage(ref, (d) => this.containers().filter((c) => c.image === d).map((c) => c.name));
  }
}
