/**
 * Containers of the store: a writable layer (upper, work) over an image's extracted layers, mounted
 * by layerfs; their changes listed (diff) and committed as a new image (commit), and an OCI runtime
 * bundle for runc (bundle).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MountHandle, MountOptions } from '../mount';
import { sha256 } from './digest';
import { ImageError } from './errors';
import { exists, readJson, writeFileAtomic } from './store/fsutil';
import { withLock } from './store/lock';
import type { ImageInfo, Store } from './store/store';
import type { Descriptor, Digest, ImageConfig, ImageManifest } from './types';
import { MediaType } from './types';

export interface ContainerRecord {
  id: string;
  name: string;
  /** the image's manifest digest */
  image: Digest;
  /** the name the image was created from, as given */
  imageName: string;
  /** the image's diffIDs, bottom first (the layers this container stands on) */
  layers: Digest[];
  created: string;
  /** where it was last mounted (it is mounted when this is a mount point now) */
  mountpoint?: string;
}

export interface ContainerChange {
  kind: 'A' | 'C' | 'D';
  path: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** The mount points of this machine (/proc/self/mountinfo, octal escapes decoded). */
export function mountPoints(): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(f[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export class Container {
  constructor(private store: Store, private rec: ContainerRecord) {}

  get id(): string { return this.rec.id; }
  get name(): string { return this.rec.name; }
  get image(): Digest { return this.rec.image; }
  get record(): ContainerRecord { return { ...this.rec }; }
  get dir(): string { return this.store.layout.container(this.rec.id); }
  get upper(): string { return path.join(this.dir, 'upper'); }
  get work(): string { return path.join(this.dir, 'work'); }
  /** the default mountpoint */
  get rootfs(): string { return path.join(this.dir, 'rootfs'); }

  /** The image's layer directories, top first (the order `mount()` takes lowers in). */
  lowerDirs(): string[] {
    return this.rec.layers.map((d) => this.store.layerDir(d)).reverse();
  }

  /** The mount point when mounted now, else null. */
  mountedAt(): string | null {
    const mp = this.rec.mountpoint;
    return mp !== undefined && mountPoints().has(mp) ? mp : null;
  }

  private async save(patch: Partial<ContainerRecord>): Promise<void> {
    await withLock(this.store.layout.storeLock, 'exclusive', () => {
      const file = path.join(this.dir, 'container.json');
      const cur = readJson<ContainerRecord>(file);
      if (cur === undefined) throw new ImageError('ENOTFOUND', `container "${this.rec.name}" not found`);
      this.rec = { ...cur, ...patch };
      for (const k of Object.keys(patch) as (keyof ContainerRecord)[]) if (patch[k] === undefined) delete this.rec[k];
      writeFileAtomic(file, JSON.stringify(this.rec, null, 1));
    });
  }

  /** The options `mount()` takes for this container's root filesystem. */
  mountOptions(mountpoint = this.rootfs): MountOptions {
    for (const d of this.rec.layers) if (!this.store.hasLayer(d)) throw new ImageError('ENOTFOUND', `container "${this.name}": layer ${d} is missing from the store`);
    return { lower: this.lowerDirs(), upper: this.upper, work: this.work, mountpoint: path.resolve(mountpoint) };
  }

  /**
   * Mounts the root filesystem in this process (lib/mount's `mount()`: the image's layers as lowers,
   * top first, under the container's upper) and returns the same handle. The mount lasts while
   * this process runs; the CLI's `container mount` starts a background server instead.
   */
  async mount(mountpoint?: string, extra: Partial<MountOptions> = {}): Promise<MountHandle> {
    const at = this.mountedAt();
    if (at !== null) throw new ImageError('EINUSE', `container "${this.name}" is mounted already at ${at}`);
    const opts = { ...this.mountOptions(mountpoint), ...extra };
    fs.mkdirSync(opts.mountpoint, { recursive: true });
    const { mount } = await import('../mount');
    const handle = await mount(opts);
    await this.save({ mountpoint: handle.mountpoint });
    const unmount = handle.unmount;
    return Object.assign(Object.create(Object.getPrototypeOf(handle)) as MountHandle, handle, {
      unmount: async () => {
        await unmount();
        await this.save({ mountpoint: undefined }).catch(() => undefined);
      },
    });
  }

  /** Records a mount made elsewhere (the CLI's background server). */
  async setMounted(mountpoint: string | undefined): Promise<void> {
    await this.save({ mountpoint });
  }

  /** Unmounts (lazily with `lazy`) a mount made by any process. */
  async umount(opts: { lazy?: boolean } = {}): Promise<void> {
    const at = this.mountedAt();
    if (at === null) throw new ImageError('EINVAL', `container "${this.name}" is not mounted`);
    const sys = await import('../sys');
    if (process.getuid?.() === 0) sys.umount2(at, opts.lazy ? sys.MNT.DETACH : 0);
    else sys.fusermountUnmount(at, opts.lazy ?? false);
    await this.save({ mountpoint: undefined });
  }

  /** Paths added (A), changed (C) and deleted (D) against the image, sorted. */
  diff(): ContainerChange[] {
    return listChanges(this.upper, this.lowerDirs());
  }

  /**
   * The writable layer as a new image: a layer blob (writeLayerDiff), extracted into the store like
   * any other, a config with its diffID and a history entry, and an OCI manifest, tagged `ref`.
   */
  async commit(ref: string | undefined, opts: { compression?: 'gzip' | 'zstd' | 'none'; message?: string; author?: string } = {}): Promise<ImageInfo> {
    const compression = opts.compression ?? 'gzip';
    if (!['gzip', 'zstd', 'none'].includes(compression)) throw new ImageError('EINVAL', `compression must be gzip, zstd or none, got "${compression}"`);
    const { layerCodec } = await import('./store/codec');
    const codec = layerCodec();
    return this.store.writing(async () => {
      const base = this.store.image(this.rec.image);
      const t = this.store.tempDir();
      try {
        const out = path.join(t.path, 'layer');
        const file = fs.createWriteStream(out);
        const written = new Promise<void>((resolve, reject) => file.once('close', resolve).once('error', reject));
        const r = await codec.writeLayerDiff({ lower: this.lowerDirs(), upper: this.upper, out: file, compression });
        await written;
        const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
        const layer: Descriptor = { mediaType, digest: r.digest, size: r.size };
        const { diffID } = await this.store.putLayer(layer, fs.createReadStream(out));
        if (diffID !== r.diffID) throw new ImageError('EFORMAT', `commit: the layer's diffID is ${diffID} once extracted, ${r.diffID} when written`);
        const created = new Date().toISOString();
        const parent = this.store.config(base);
        const config: ImageConfig = {
          ...parent,
          created,
          ...(opts.author ? { author: opts.author } : {}),
          rootfs: { type: 'layers', diff_ids: [...parent.rootfs.diff_ids, diffID] },
          history: [...(parent.history ?? []), { created, created_by: 'layerfs container commit', ...(opts.message ? { comment: opts.message } : {}) }],
        };
        const configBytes = Buffer.from(JSON.stringify(config));
        const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: sha256(configBytes), size: configBytes.length };
        await this.store.putBlob(configDesc, configBytes);
        const manifest: ImageManifest = {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: configDesc,
          layers: [...base.layers.map((l) => ({ ...l.blob, mediaType: ociLayerType(l.blob.mediaType) })), layer],
        };
        const bytes = Buffer.from(JSON.stringify(manifest));
        await this.store.putBlob({ mediaType: MediaType.OciManifest, digest: sha256(bytes), size: bytes.length }, bytes);
        const rec = this.store.recordOf(bytes, MediaType.OciManifest);
        await this.store.addImage(rec, ref);
        return this.store.image(rec.digest);
      } finally {
        t.remove();
      }
    });
  }
}

function ociLayerType(mt: string): string {
  if (mt === MediaType.DockerLayerGzip) return MediaType.OciLayerGzip;
  if (mt === MediaType.DockerLayer) return MediaType.OciLayer;
  return mt;
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function hasOverlayXattr(p: string, name: string): boolean {
  const sys = require('../sys') as typeof import('../sys');
  for (const prefix of ['trusted.overlay.', 'user.overlay.']) {
    try {
      if (sys.getxattrat(sys.AT.FDCWD, p, prefix + name) !== null) return true;
    } catch {
      /* no such xattr */
    }
  }
  return false;
}

function inLowers(lowers: string[], rel: string): boolean {
  for (const l of lowers) {
    try {
      const st = fs.lstatSync(path.join(l, rel));
      return !isWhiteout(st) && !path.basename(rel).startsWith('.wh.');
    } catch {
      if (exists(path.join(l, path.dirname(rel), `.wh.${path.basename(rel)}`))) return false;
    }
  }
  return false;
}

function lowerNames(lowers: string[], rel: string): Set<string> {
  const names = new Set<string>();
  for (const l of lowers) {
    try {
      for (const n of fs.readdirSync(path.join(l, rel))) if (!n.startsWith('.wh.')) names.add(n);
    } catch {
      /* not a directory there */
    }
  }
  return names;
}

/** Changes recorded in an upper directory (overlay form: whiteouts are 0/0 char devices). */
export function listChanges(upper: string, lowers: string[]): ContainerChange[] {
  const out: ContainerChange[] = [];
  const visit = (rel: string, parentNew: boolean): void => {
    for (const n of fs.readdirSync(path.join(upper, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = path.join(upper, r);
      const st = fs.lstatSync(p);
      if (isWhiteout(st)) {
        if (!parentNew && inLowers(lowers, r)) out.push({ kind: 'D', path: '/' + r });
        continue;
      }
      const existed = !parentNew && inLowers(lowers, r);
      const redirected = st.isDirectory() && hasOverlayXattr(p, 'redirect');
      out.push({ kind: existed && !redirected ? 'C' : 'A', path: '/' + r });
      if (st.isDirectory()) {
        const opaque = hasOverlayXattr(p, 'opaque');
        if (opaque && existed) {
          const here = new Set(fs.readdirSync(p));
          for (const gone of lowerNames(lowers, r)) if (!here.has(gone)) out.push({ kind: 'D', path: `/${r}/${gone}` });
        }
        visit(r, parentNew || !existed || opaque || redirected);
      }
    }
  };
  visit('', false);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Creates a container for `image` (a name, tag or digest of the store). */
export async function createContainer(store: Store, image: string, opts: { name?: string } = {}): Promise<Container> {
  if (opts.name !== undefined && !NAME.test(opts.name)) throw new ImageError('EINVAL', `invalid container name "${opts.name}" (letters, digits, _ . -)`);
  const id = randomBytes(32).toString('hex');
  const name = opts.name ?? `c-${id.slice(0, 12)}`;
  const t = store.tempDir();
  try {
    const dir = path.join(t.path, 'c');
    for (const d of ['upper', 'work', 'rootfs']) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.chmodSync(path.join(dir, 'upper'), 0o755);
    return await withLock(store.layout.storeLock, 'exclusive', () => {
      const img = store.image(image);
      if (findContainer(store, name) !== undefined) throw new ImageError('EEXIST', `container name "${name}" is taken`);
      const rec: ContainerRecord = { id, name, image: img.digest, imageName: image, layers: img.layers.map((l) => l.diffID), created: new Date().toISOString() };
      fs.writeFileSync(path.join(dir, 'container.json'), JSON.stringify(rec, null, 1));
      fs.renameSync(dir, store.layout.container(id));
      return new Container(store, rec);
    });
  } finally {
    t.remove();
  }
}

function findContainer(store: Store, nameOrId: string): ContainerRecord | undefined {
  const all = listContainerRecords(store);
  return all.find((c) => c.name === nameOrId) ?? all.find((c) => c.id === nameOrId) ?? (nameOrId.length >= 4 ? onlyOne(all.filter((c) => c.id.startsWith(nameOrId))) : undefined);
}

function onlyOne<T>(xs: T[]): T | undefined {
  return xs.length === 1 ? xs[0] : undefined;
}

export function listContainerRecords(store: Store): ContainerRecord[] {
  const out: ContainerRecord[] = [];
  for (const id of fs.readdirSync(store.layout.containersDir)) {
    const rec = readJson<ContainerRecord>(path.join(store.layout.container(id), 'container.json'));
    if (rec !== undefined) out.push(rec);
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export function getContainer(store: Store, nameOrId: string): Container {
  const rec = findContainer(store, nameOrId);
  if (rec === undefined) throw new ImageError('ENOTFOUND', `container "${nameOrId}" not found`);
  return new Container(store, rec);
}

/** Removes a container (its writable layer with it); a mounted one only with `force` (unmounted first). */
export async function removeContainer(store: Store, nameOrId: string, opts: { force?: boolean } = {}): Promise<void> {
  const c = getContainer(store, nameOrId);
  if (c.mountedAt() !== null) {
    if (!opts.force) throw new ImageError('EINUSE', `container "${c.name}" is mounted at ${c.mountedAt()} (umount it, or rm -f)`);
    await c.umount({ lazy: true });
  }
  await withLock(store.layout.storeLock, 'exclusive', () => store.discard(c.dir));
}
