/**
 * docker-archive:FILE[:NAME:TAG] (`docker save`, `podman save`): manifest.json, a config
 * `HEX.json` and one uncompressed tar per layer. As a source it offers a synthesised OCI manifest
 * over those files, read in place; as a destination it writes what `docker load`/`podman load` read
 * (layers decompressed: their file digests are the diffIDs).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompress, peek, sniffCompression } from '../compression';
import { DigestStream, digestHex, sha256 } from '../digest';
import { ImageError } from '../errors';
import { isLayerMediaType } from '../media';
import { uniqueName } from '../store/fsutil';
import type { Descriptor, Digest, ImageConfig, ImageDestination, ImageManifest, ImageSource, RawManifest } from '../types';
import { MediaType } from '../types';
import { ArchiveWriter } from './archive';
import { ArchiveFiles, archiveTree } from './oci-archive';

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

export class DockerArchiveSource implements ImageSource {
  private tree: ArchiveFiles;
  private manifest: Buffer;
  private names = new Map<Digest, string>();

  private constructor(readonly reference: string, file: string, want: string | undefined) {
    this.tree = archiveTree(file);
    const mj = this.tree.read('manifest.json');
    if (mj === null) throw new ImageError('EFORMAT', `${reference}: not a docker archive (no manifest.json)`);
    let entries: DockerManifestEntry[];
    try {
      entries = JSON.parse(mj.toString());
    } catch {
      throw new ImageError('EFORMAT', `${reference}: manifest.json is not JSON`);
    }
    if (!Array.isArray(entries) || entries.length === 0) throw new ImageError('EFORMAT', `${reference}: manifest.json lists no image`);
    let e = entries[0];
    if (want !== undefined) {
      const hit = entries.find((x) => x.RepoTags?.includes(want));
      if (!hit) throw new ImageError('ENOTFOUND', `${reference}: no image tagged "${want}"`);
      e = hit;
    } else if (entries.length > 1) throw new ImageError('EINVAL', `${reference}: the archive holds ${entries.length} images: name one with :NAME:TAG`);
    const configBytes = this.tree.read(e.Config);
    if (configBytes === null) throw new ImageError('EFORMAT', `${reference}: config ${e.Config} missing`);
    const config = JSON.parse(configBytes.toString()) as ImageConfig;
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== e.Layers.length) throw new ImageError('EFORMAT', `${reference}: ${e.Layers.length} layer files but the config lists ${diffIDs.length} diff_ids`);
    const configDigest = sha256(configBytes);
    this.names.set(configDigest, e.Config);
    const layers: Descriptor[] = e.Layers.map((name, i) => {
      const size = this.tree.size(name);
      if (size === null) throw new ImageError('EFORMAT', `${reference}: layer ${name} missing`);
      const kind = sniffCompression(this.tree.read(name, 4)!);
      // an uncompressed layer's digest is its diffID (checked as it is copied)
      const digest = kind === 'none' ? diffIDs[i] : this.hashOf(name);
      this.names.set(digest, name);
      const mediaType = kind === 'gzip' ? MediaType.OciLayerGzip : kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
      return { mediaType, digest, size };
    });
    const m: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    this.manifest = Buffer.from(JSON.stringify(m));
  }

  private hashOf(name: string): Digest {
    return sha256(this.tree.read(name)!);
  }

  static open(reference: string, file: string, want?: string): DockerArchiveSource {
    return new DockerArchiveSource(reference, file, want);
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    if (digest !== undefined && digest !== sha256(this.manifest)) throw new ImageError('ENOTFOUND', `${this.reference}: no manifest ${digest}`);
    return { bytes: this.manifest, mediaType: MediaType.OciManifest };
  }

  async getBlob(desc: Descriptor, opts: { offset?: number } = {}): Promise<Readable> {
    const name = this.names.get(desc.digest);
    const s = name === undefined ? null : this.tree.stream(name, opts.offset);
    if (s === null) throw new ImageError('ENOTFOUND', `${this.reference}: no blob ${desc.digest}`);
    return s;
  }

  async close(): Promise<void> {}
}

export class DockerArchiveDestination implements ImageDestination {
  private work: string;
  /** blob digest -> file name in the archive */
  private files = new Map<Digest, string>();
  private manifest: ImageManifest | undefined;

  constructor(readonly reference: string, private file: string, private repoTag: string | undefined) {
    this.work = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${uniqueName('tmp-')}`);
    fs.mkdirSync(this.work);
  }

  async hasBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(desc: Descriptor, data: Readable): Promise<void> {
    const verify = new DigestStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` });
    if (!isLayerMediaType(desc.mediaType)) {
      const name = `${digestHex(desc.digest)}.json`;
      await pipeline(data, verify, fs.createWriteStream(path.join(this.work, name)));
      this.files.set(desc.digest, name);
      return;
    }
    const tmp = path.join(this.work, uniqueName('layer-'));
    const hash = createHash('sha256');
    const verified = data.pipe(verify);
    data.on('error', (e) => verified.destroy(e));
    await peek(verified, 4);
    const plain = await decompress(verified);
    await pipeline(plain, async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        hash.update(c);
        yield c;
      }
    }, fs.createWriteStream(tmp));
    const name = `${hash.digest('hex')}.tar`;
    fs.renameSync(tmp, path.join(this.work, name));
    this.files.set(desc.digest, name);
  }

  async putManifest(m: RawManifest): Promise<void> {
    this.manifest = JSON.parse(m.bytes.toString()) as ImageManifest;
  }

  async commit(): Promise<void> {
    const m = this.manifest;
    if (m === undefined) throw new ImageError('EINVAL', `${this.reference}: commit before a manifest`);
    const config = this.files.get(m.config.digest);
    const layers = m.layers.map((l) => this.files.get(l.digest));
    if (config === undefined || layers.some((l) => l === undefined)) throw new ImageError('EINVAL', `${this.reference}: blobs missing at commit`);
    const entry: DockerManifestEntry = { Config: config, RepoTags: this.repoTag ? [this.repoTag] : [], Layers: layers as string[] };
    const names = [...new Set([config, ...(layers as string[])])];
    const tmp = `${this.work}.tar`;
    try {
      const w = new ArchiveWriter(fs.createWriteStream(tmp), Date.now() / 1000);
      for (const n of names) {
        const p = path.join(this.work, n);
        await w.file(n, fs.createReadStream(p), fs.statSync(p).size);
      }
      await w.file('manifest.json', Buffer.from(JSON.stringify([entry])));
      if (this.repoTag) {
        const i = this.repoTag.lastIndexOf(':');
        const top = layers[layers.length - 1]!.replace(/\.tar$/, '');
        await w.file('repositories', Buffer.from(JSON.stringify({ [this.repoTag.slice(0, i)]: { [this.repoTag.slice(i + 1)]: top } })));
      }
      await w.end();
      fs.renameSync(tmp, this.file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async close(): Promise<void> {
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
