/**
 * The image store: content-addressed blobs, layers extracted once and shared, images by tag and by
 * manifest digest. Everything is written under tmp/ and published by rename once complete and
 * verified; metadata changes take the store lock for a moment (layout.ts has the map).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { DigestStream, digestHex, sha256 } from '../digest';
import { ImageError } from '../errors';
import { isDigest, parseTag } from '../reference';
import type { Descriptor, Digest, ImageConfig, ImageManifest } from '../types';
import { layerCodec, LayerResult } from './codec';
import { compress, Compression } from '../layer';
import { MediaType } from '../types';
import { diskUsage, exists, readJson, uniqueName, writeFileAtomic } from './fsutil';
import { defaultRoot, Layout, STORE_VERSION } from './layout';
import { FileLock, withLock } from './lock';
import { Tee } from './tee';
import { checkStore, diskFree, DiskUsage } from './report';
import { findImage, looksLikeDigest } from './find';
import { copyImage, CopyOptions, CopyResult } from '../copy';
import { Container, ContainerRecord, createContainer, getContainer, listContainerRecords, removeContainer } from '../container';
import { openDestination, openSource } from '../transports';
import type { ImageDestination, ImageSource } from '../types';
import { StoreDestination, StoreSource } from './transport';

export interface StoreOptions {
  /** the store directory (default: LAYERFS_ROOT, /var/lib/layerfs for root, else $XDG_DATA_HOME/layerfs) */
  root?: string;
}

export interface StoredLayer {
  /** the layer blob as distributed (compressed or not) */
  blob: Descriptor;
  diffID: Digest;
  /** bytes of the uncompressed tar */
  size: number;
}

export interface ImageRecord {
  /** manifest digest: the image's identity */
  digest: Digest;
  mediaType: string;
  config: Descriptor;
  layers: StoredLayer[];
  /** the config's `created` */
  created?: string;
  /** when it was stored */
  added: string;
  /** bytes of its blobs (manifest, config, layers as distributed) */
  size: number;
}

export interface ImagesFile {
  version: number;
  images: Record<Digest, ImageRecord>;
  /** "name:tag" -> manifest digest */
  tags: Record<string, Digest>;
}

/** An image with its tags, as listed. */
export interface ImageInfo extends ImageRecord {
  tags: string[];
}

/** A work area under tmp/, owned (flock) by this process until `remove()`. */
export interface TempDir {
  path: string;
  remove(): void;
}

export { isLayerMediaType } from '../media';

export class Store {
  readonly layout: Layout;
  private scratch: TempDir | undefined;

  private constructor(readonly root: string) {
    this.layout = new Layout(root);
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
    s.removeLeftovers();
    return s;
  }

  /** Removes tmp/ work areas whose owner is gone (its flock dropped with it). */
  private removeLeftovers(): void {
    for (const name of fs.readdirSync(this.layout.tmpDir)) {
      const p = path.join(this.layout.tmpDir, name);
      if (name.startsWith('.new-')) {
        // being created (locked only once renamed): gone when its creator (the pid in its name) is
        // dead, or a minute old (a reused pid)
        try {
          if (!processAlive(Number(name.slice(5).split('-')[0])) || Date.now() - fs.lstatSync(p).mtimeMs > 60_000) {
            fs.rmSync(p, { recursive: true, force: true });
          }
        } catch {
          /* gone */
        }
        continue;
      }
      let fd: number;
      try {
        fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      } catch {
        fs.rmSync(p, { recursive: true, force: true });
        continue;
      }
      const lock = FileLock.holdFd(fd, p);
      if (lock === null) {
        fs.closeSync(fd);
        continue;
      }
      try {
        fs.rmSync(p, { recursive: true, force: true });
      } finally {
        lock.release();
      }
    }
  }

  /** A fresh work area under tmp/, locked by this process (a crash leaves it to the next open). */
  tempDir(): TempDir {
    const name = uniqueName();
    const pending = path.join(this.layout.tmpDir, `.new-${name}`);
    const final = path.join(this.layout.tmpDir, name);
    fs.mkdirSync(pending, { mode: 0o700 });
    const fd = fs.openSync(pending, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const lock = FileLock.holdFd(fd, final)!;
    fs.renameSync(pending, final);
    let removed = false;
    return {
      path: final,
      remove: () => {
        if (removed) return;
        removed = true;
        fs.rmSync(final, { recursive: true, force: true });
        lock.release();
      },
    };
  }

  /** Takes `p` out of sight at once (rename into tmp/), then deletes it. */
  discard(p: string): void {
    this.scratch ??= this.tempDir();
    const target = path.join(this.scratch.path, uniqueName('gone-'));
    try {
      fs.renameSync(p, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    fs.rmSync(target, { recursive: true, force: true });
  }

  /** Releases what this handle holds (its scratch area). */
  close(): void {
    this.scratch?.remove();
    this.scratch = undefined;
  }

  // ---------------------------------------------------------------- blobs

  blobPath(digest: Digest): string {
    return this.layout.blob(digestHex(digest));
  }

  hasBlob(digest: Digest): boolean {
    return exists(this.blobPath(digest));
  }

  readBlob(digest: Digest): Buffer {
    try {
      return fs.readFileSync(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageError('ENOTFOUND', `blob ${digest} not in the store`);
      throw err;
    }
  }

  /** Keeps a blob once its bytes match `desc` (digest and size). */
  async putBlob(desc: Descriptor, data: Readable | Buffer): Promise<void> {
    const target = this.blobPath(desc.digest);
    if (exists(target)) {
      if (data instanceof Readable) data.destroy();
      return;
    }
    const t = this.tempDir();
    try {
      const f = path.join(t.path, 'blob');
      const input = data instanceof Readable ? data : Readable.from([data]);
      await pipeline(input, new DigestStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` }), fs.createWriteStream(f));
      fs.renameSync(f, target);
    } finally {
      t.remove();
    }
  }

  // ---------------------------------------------------------------- layers

  /** The diffID of an extracted layer blob, or undefined when the blob or its layer is missing. */
  layerOf(blobDigest: Digest): Digest | undefined {
    let diffID: string;
    try {
      diffID = fs.readFileSync(this.layout.diffid(digestHex(blobDigest)), 'utf8').trim();
    } catch {
      return undefined;
    }
    return this.hasLayer(diffID) && this.hasBlob(blobDigest) ? diffID : undefined;
  }

  hasLayer(diffID: Digest): boolean {
    return exists(this.layout.layerDiff(digestHex(diffID)));
  }

  /** The directory a layer is extracted in (a lower of every mount that uses it). */
  layerDir(diffID: Digest): string {
    return this.layout.layerDiff(digestHex(diffID));
  }

  layerSize(diffID: Digest): number {
    return readJson<{ size: number }>(path.join(this.layout.layer(digestHex(diffID)), 'layer.json'))?.size ?? 0;
  }

  /**
   * Keeps a layer blob and extracts it as it streams in (once: concurrent callers for one blob wait
   * for the first). The blob, then the extracted directory, then the blob's diffID are published,
   * each by rename, only when the bytes match `desc`.
   */
  async putLayer(desc: Descriptor, data: Readable, opts: { signal?: AbortSignal } = {}): Promise<{ diffID: Digest; size: number }> {
    const hex = digestHex(desc.digest);
    fs.mkdirSync(path.join(this.root, 'locks'), { recursive: true });
    return withLock(path.join(this.root, 'locks', `${hex}.lock`), 'exclusive', async () => {
      const have = this.layerOf(desc.digest);
      if (have !== undefined) {
        data.destroy();
        return { diffID: have, size: this.layerSize(have) };
      }
      const t = this.tempDir();
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
        this.publishLayer(desc.digest, blobFile, layerDir, diffID, uncompressedSize);
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
  private publishLayer(blob: Digest, blobFile: string, layerDir: string, diffID: Digest, size: number): void {
    fs.writeFileSync(path.join(layerDir, 'layer.json'), JSON.stringify({ diffID, size }));
    if (!this.hasBlob(blob)) fs.renameSync(blobFile, this.blobPath(blob));
    if (!this.hasLayer(diffID)) {
      const target = this.layout.layer(digestHex(diffID));
      if (exists(target)) this.discard(target); // a half-published one can't exist, but a stray dir can
      fs.renameSync(layerDir, target);
    }
    writeFileAtomic(this.layout.diffid(digestHex(blob)), diffID);
  }

  /**
   * A new layer from a plain tar that `produce` writes (and ends): the tar is extracted and
   * compressed at the same time (two cores, one pass; no decompression of what was just compressed),
   * then blob and layer are published as putLayer does. For commit.
   */
  async addLayerFromTar(produce: (out: Writable) => Promise<unknown>, compression: Compression): Promise<{ blob: Descriptor; diffID: Digest; size: number }> {
    const t = this.tempDir();
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
      fs.mkdirSync(path.join(this.root, 'locks'), { recursive: true });
      await withLock(path.join(this.root, 'locks', `${digestHex(blob.digest)}.lock`), 'exclusive', () => {
        if (this.layerOf(blob.digest) === undefined) this.publishLayer(blob.digest, blobFile, layerDir, diffID, uncompressedSize);
      });
      return { blob, diffID, size: uncompressedSize };
    } finally {
      t.remove();
    }
  }

  // ---------------------------------------------------------------- images

  /** images.json as it is now (replaced whole by every change, so always consistent). */
  readImages(): ImagesFile {
    const f = readJson<ImagesFile>(this.layout.imagesFile);
    if (f === undefined) throw new ImageError('EFORMAT', `store ${this.root}: images.json is missing`);
    return f;
  }

  /** Changes images.json under the store lock (read, change, replace by rename). */
  async updateImages<T>(fn: (f: ImagesFile) => T): Promise<T> {
    return withLock(this.layout.storeLock, 'exclusive', () => {
      const f = this.readImages();
      const r = fn(f);
      writeFileAtomic(this.layout.imagesFile, JSON.stringify(f, null, 1));
      return r;
    });
  }

  /** Every image, with its tags, newest first. */
  images(): ImageInfo[] {
    const f = this.readImages();
    const tags = new Map<Digest, string[]>();
    for (const [t, d] of Object.entries(f.tags)) tags.set(d, [...(tags.get(d) ?? []), t]);
    return Object.values(f.images)
      .map((r) => ({ ...r, tags: (tags.get(r.digest) ?? []).sort() }))
      .sort((a, b) => b.added.localeCompare(a.added));
  }

  /**
   * Finds an image by `name[:tag]` (`:latest` by default), `name@sha256:...`, `sha256:...`, or a
   * prefix (at least 4 hex digits) of its manifest digest.
   */
  image(ref: string): ImageInfo {
    const f = this.readImages();
    const found = findImage(f, ref);
    if (found === undefined) throw new ImageError('ENOTFOUND', `image "${ref}" not found`);
    const tags = Object.entries(f.tags).filter(([, d]) => d === found.digest).map(([t]) => t).sort();
    return { ...found, tags };
  }

  /** Records an image and points `tag` (if given) at it. */
  async addImage(rec: ImageRecord, tag?: string): Promise<void> {
    const t = tag === undefined ? undefined : parseTag(tag).full;
    await this.updateImages((f) => {
      f.images[rec.digest] = f.images[rec.digest] ?? rec;
      if (t !== undefined) f.tags[t] = rec.digest;
    });
  }

  /** Points `name[:tag]` at the image `ref`. */
  async tag(ref: string, tag: string): Promise<ImageInfo> {
    const t = parseTag(tag).full;
    const img = this.image(ref);
    await this.updateImages((f) => {
      if (f.images[img.digest] === undefined) throw new ImageError('ENOTFOUND', `image "${ref}" not found`);
      f.tags[t] = img.digest;
    });
    return this.image(img.digest);
  }

  /** The image record described by a manifest whose blobs are all in the store. */
  recordOf(manifestBytes: Buffer, mediaType: string): ImageRecord {
    const digest = sha256(manifestBytes);
    let m: ImageManifest;
    try {
      m = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    } catch {
      throw new ImageError('EFORMAT', `manifest ${digest} is not JSON`);
    }
    if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
      throw new ImageError('EFORMAT', `manifest ${digest} is not an image manifest (an index or an old schema?)`);
    }
    const config = JSON.parse(this.readBlob(m.config.digest).toString('utf8')) as ImageConfig;
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== m.layers.length) {
      throw new ImageError('EFORMAT', `manifest ${digest}: ${m.layers.length} layers but the config lists ${diffIDs.length} diff_ids`);
    }
    const layers = m.layers.map((blob, i): StoredLayer => {
      const diffID = this.layerOf(blob.digest);
      if (diffID === undefined) throw new ImageError('ENOTFOUND', `layer ${blob.digest} is not in the store`);
      if (diffID !== diffIDs[i]) throw new ImageError('EFORMAT', `layer ${i + 1} (${blob.digest}) has diffID ${diffID}, the config says ${diffIDs[i]}`);
      return { blob: { mediaType: blob.mediaType, digest: blob.digest, size: blob.size }, diffID, size: this.layerSize(diffID) };
    });
    return {
      digest,
      mediaType: m.mediaType ?? mediaType,
      config: { mediaType: m.config.mediaType, digest: m.config.digest, size: m.config.size },
      layers,
      created: config.created,
      added: new Date().toISOString(),
      size: manifestBytes.length + m.config.size + m.layers.reduce((n, l) => n + l.size, 0),
    };
  }

  config(img: ImageRecord): ImageConfig {
    return JSON.parse(this.readBlob(img.config.digest).toString('utf8')) as ImageConfig;
  }

  /**
   * Removes the tag `ref` names, and the image when no tag is left (or `ref` is a digest); then the
   * blobs and layers nothing else uses. Refuses an image a container uses.
   */
  async removeImage(ref: string, containersUsing: (digest: Digest) => string[]): Promise<{ untagged: string[]; removed: Digest[] }> {
    return withLock(this.layout.gcLock, 'exclusive', async () => {
      const img = this.image(ref);
      const byTag = !looksLikeDigest(ref) && !ref.includes('@');
      const tagName = byTag ? parseTag(ref).full : undefined;
      const result = await this.updateImages((f) => {
        const untagged = tagName !== undefined ? [tagName] : Object.keys(f.tags).filter((t) => f.tags[t] === img.digest);
        const left = Object.keys(f.tags).filter((t) => f.tags[t] === img.digest && !untagged.includes(t));
        const removed: Digest[] = [];
        if (left.length === 0) {
          const users = containersUsing(img.digest);
          if (users.length > 0) throw new ImageError('EINUSE', `image "${ref}" is used by container ${users.join(', ')}`);
          delete f.images[img.digest];
          removed.push(img.digest);
        }
        for (const t of untagged) delete f.tags[t];
        return { untagged, removed };
      });
      if (result.removed.length > 0) this.collect();
      return result;
    });
  }

  /** Removes every blob and layer no image and no container uses. Call with the gc lock held. */
  collect(containerLayers: Digest[] = this.containerLayers()): { blobs: number; layers: number; bytes: number } {
    const f = this.readImages();
    const blobs = new Set<string>();
    const layers = new Set<string>(containerLayers.map(digestHex));
    for (const img of Object.values(f.images)) {
      blobs.add(digestHex(img.digest));
      blobs.add(digestHex(img.config.digest));
      for (const l of img.layers) {
        blobs.add(digestHex(l.blob.digest));
        layers.add(digestHex(l.diffID));
      }
    }
    let nb = 0;
    let nl = 0;
    let bytes = 0;
    for (const hex of fs.readdirSync(this.layout.blobsDir)) {
      if (blobs.has(hex)) continue;
      bytes += fs.lstatSync(this.layout.blob(hex)).size;
      fs.rmSync(this.layout.diffid(hex), { force: true });
      fs.rmSync(this.layout.blob(hex), { force: true });
      nb++;
    }
    for (const hex of fs.readdirSync(this.layout.diffidsDir)) {
      if (!blobs.has(hex)) fs.rmSync(this.layout.diffid(hex), { force: true });
    }
    for (const hex of fs.readdirSync(this.layout.layersDir)) {
      if (layers.has(hex)) continue;
      bytes += diskUsage(this.layout.layer(hex));
      this.discard(this.layout.layer(hex));
      nl++;
    }
    return { blobs: nb, layers: nl, bytes };
  }

  /** The layers every container stands on (read from containers/ * /container.json). */
  containerLayers(): Digest[] {
    const out: Digest[] = [];
    for (const id of fs.readdirSync(this.layout.containersDir)) {
      const c = readJson<{ layers?: Digest[] }>(path.join(this.layout.container(id), 'container.json'));
      out.push(...(c?.layers ?? []));
    }
    return out;
  }

  /** `prune`: removes unreferenced blobs and layers (and what killed processes left). */
  async prune(): Promise<{ blobs: number; layers: number; bytes: number }> {
    return withLock(this.layout.gcLock, 'exclusive', () => {
      this.removeLeftovers();
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
    const users = new Map<Digest, number>();
    for (const img of Object.values(this.readImages().images)) for (const d of new Set(img.layers.map((l) => l.diffID))) users.set(d, (users.get(d) ?? 0) + 1);
    return users;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true; // not a name we made: leave it to the age rule
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
