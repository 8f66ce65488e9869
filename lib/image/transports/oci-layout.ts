/**
 * oci:DIR[:TAG] (an OCI image layout, image-spec layout.md) as a source and a destination, and the
 * layout reader over any file tree (a directory, or an archive read in place for oci-archive:).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestStream, digestHex, sha256 } from '../digest';
import { ImageError } from '../errors';
import { uniqueName, writeFileAtomic } from '../store/fsutil';
import type { Descriptor, Digest, ImageDestination, ImageIndex, ImageSource, RawManifest } from '../types';
import { MediaType } from '../types';

export const REF_NAME = 'org.opencontainers.image.ref.name';

/** What the layout reader needs of where the files are. */
export interface FileTree {
  /** null when missing */
  read(name: string): Buffer | null;
  stream(name: string, offset?: number): Readable | null;
}

export function dirTree(dir: string): FileTree {
  return {
    read: (name) => {
      try {
        return fs.readFileSync(path.join(dir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
    stream: (name, offset = 0) => (fs.existsSync(path.join(dir, name)) ? fs.createReadStream(path.join(dir, name), { start: offset }) : null),
  };
}

/** Splits `PATH[:TAG]` (the last colon, when what follows is a tag and not part of a path). */
export function splitPathTag(spec: string): { path: string; tag?: string } {
  const i = spec.lastIndexOf(':');
  if (i > 0 && /^[\w][\w.-]{0,127}$/.test(spec.slice(i + 1))) return { path: spec.slice(0, i), tag: spec.slice(i + 1) };
  return { path: spec };
}

export class OciLayoutSource implements ImageSource {
  constructor(readonly reference: string, private tree: FileTree, private tag: string | undefined, private onClose?: () => void) {
    const layout = tree.read('oci-layout');
    if (layout === null) throw new ImageError('EFORMAT', `${reference}: not an OCI layout (no oci-layout file)`);
    let v: { imageLayoutVersion?: string };
    try {
      v = JSON.parse(layout.toString());
    } catch {
      throw new ImageError('EFORMAT', `${reference}: oci-layout is not JSON`);
    }
    if (v.imageLayoutVersion !== '1.0.0') throw new ImageError('EFORMAT', `${reference}: layout version ${v.imageLayoutVersion} (1.0.0 is known)`);
  }

  private index(): ImageIndex {
    const b = this.tree.read('index.json');
    if (b === null) throw new ImageError('EFORMAT', `${this.reference}: no index.json`);
    try {
      return JSON.parse(b.toString());
    } catch {
      throw new ImageError('EFORMAT', `${this.reference}: index.json is not JSON`);
    }
  }

  /** The index.json entry the tag names (or its only entry). */
  top(): Descriptor {
    const ms = this.index().manifests ?? [];
    if (this.tag !== undefined) {
      const d = ms.find((m) => m.annotations?.[REF_NAME] === this.tag);
      if (!d) throw new ImageError('ENOTFOUND', `${this.reference}: no image tagged "${this.tag}"`);
      return d;
    }
    if (ms.length !== 1) throw new ImageError('EINVAL', `${this.reference}: the layout holds ${ms.length} images: name one with :TAG`);
    return ms[0];
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const desc = digest === undefined ? this.top() : undefined;
    const d = digest ?? desc!.digest;
    const bytes = this.tree.read(`blobs/sha256/${digestHex(d)}`);
    if (bytes === null) throw new ImageError('ENOTFOUND', `${this.reference}: manifest ${d} missing`);
    if (sha256(bytes) !== d) throw new ImageError('EFORMAT', `${this.reference}: manifest ${d} does not match its digest`);
    let mt = desc?.mediaType;
    if (mt === undefined) mt = (JSON.parse(bytes.toString()) as { mediaType?: string }).mediaType ?? MediaType.OciManifest;
    return { bytes, mediaType: mt };
  }

  async getBlob(desc: Descriptor, opts: { offset?: number } = {}): Promise<Readable> {
    const s = this.tree.stream(`blobs/sha256/${digestHex(desc.digest)}`, opts.offset);
    if (s === null) throw new ImageError('ENOTFOUND', `${this.reference}: blob ${desc.digest} missing`);
    return s;
  }

  async close(): Promise<void> {
    this.onClose?.();
  }
}

/** Writes an OCI layout in `dir` (added to an existing one: other tags stay). */
export class OciLayoutDestination implements ImageDestination {
  private manifest: Descriptor | undefined;
  constructor(readonly reference: string, private dir: string, private tag: string | undefined) {
    fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    const layoutFile = path.join(dir, 'oci-layout');
    if (!fs.existsSync(layoutFile)) writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  private blob(d: Digest): string {
    return path.join(this.dir, 'blobs', 'sha256', digestHex(d));
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      return fs.statSync(this.blob(desc.digest)).size === desc.size;
    } catch {
      return false;
    }
  }

  async putBlob(desc: Descriptor, data: Readable): Promise<void> {
    const target = this.blob(desc.digest);
    const tmp = `${target}.${uniqueName('tmp-')}`;
    try {
      await pipeline(data, new DigestStream({ digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` }), fs.createWriteStream(tmp));
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }

  async putManifest(m: RawManifest): Promise<void> {
    const digest = sha256(m.bytes);
    await this.putBlob({ mediaType: m.mediaType, digest, size: m.bytes.length }, Readable.from([m.bytes]));
    this.manifest = { mediaType: m.mediaType, digest, size: m.bytes.length };
  }

  async commit(): Promise<void> {
    if (this.manifest === undefined) throw new ImageError('EINVAL', `${this.reference}: commit before a manifest`);
    const file = path.join(this.dir, 'index.json');
    let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    if (fs.existsSync(file)) index = JSON.parse(fs.readFileSync(file, 'utf8'));
    const desc: Descriptor = { ...this.manifest };
    if (this.tag !== undefined) {
      desc.annotations = { [REF_NAME]: this.tag };
      index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== this.tag);
    } else {
      index.manifests = index.manifests.filter((d) => d.digest !== desc.digest || d.annotations?.[REF_NAME] !== undefined);
    }
    index.manifests.push(desc);
    writeFileAtomic(file, JSON.stringify(index));
  }

  async close(): Promise<void> {}
}
