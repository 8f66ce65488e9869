/** oci-archive:FILE[:TAG]: an OCI layout in a tar file, read in place, written through a temp layout. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from '../errors';
import { uniqueName } from '../store/fsutil';
import type { Descriptor, ImageDestination, RawManifest } from '../types';
import { Readable } from 'node:stream';
import { ArchiveEntry, ArchiveWriter, indexArchive } from './archive';
import { FileTree, OciLayoutDestination, OciLayoutSource } from './oci-layout';

/** The files of an archive, read in place at their offsets. */
export class ArchiveFiles implements FileTree {
  private entries: Map<string, ArchiveEntry>;
  constructor(private file: string) {
    if (!fs.existsSync(file)) throw new ImageError('ENOTFOUND', `${file}: no such file`);
    this.entries = indexArchive(file);
  }
  size(name: string): number | null {
    return this.entries.get(name)?.size ?? null;
  }
  /** the first `n` bytes (all of them when n is omitted) */
  read(name: string, n?: number): Buffer | null {
    const e = this.entries.get(name);
    if (!e) return null;
    const b = Buffer.alloc(Math.min(n ?? e.size, e.size));
    const fd = fs.openSync(this.file, 'r');
    try {
      fs.readSync(fd, b, 0, b.length, e.offset);
    } finally {
      fs.closeSync(fd);
    }
    return b;
  }
  stream(name: string, offset = 0): Readable | null {
    const e = this.entries.get(name);
    if (!e) return null;
    if (e.size - offset <= 0) return Readable.from([]);
    return fs.createReadStream(this.file, { start: e.offset + offset, end: e.offset + e.size - 1 });
  }
}

export function archiveTree(file: string): ArchiveFiles {
  return new ArchiveFiles(file);
}

export function ociArchiveSource(reference: string, file: string, tag?: string): OciLayoutSource {
  return new OciLayoutSource(reference, archiveTree(file), tag);
}

/** Tars a layout directory's files (oci-layout, index.json, blobs/sha256/...) into `out`. */
export async function tarDirectory(dir: string, names: string[], writer: ArchiveWriter): Promise<void> {
  for (const name of names) {
    const p = path.join(dir, name);
    const st = fs.statSync(p);
    if (st.isDirectory()) await writer.dir(name);
    else await writer.file(name, fs.createReadStream(p), st.size);
  }
  await writer.end();
}

export class OciArchiveDestination implements ImageDestination {
  private layout: OciLayoutDestination;
  private work: string;
  constructor(readonly reference: string, private file: string, tag: string | undefined) {
    this.work = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${uniqueName('tmp-')}`);
    this.layout = new OciLayoutDestination(reference, this.work, tag);
  }
  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.layout.hasBlob(desc);
  }
  putBlob(desc: Descriptor, data: Readable): Promise<void> {
    return this.layout.putBlob(desc, data);
  }
  putManifest(m: RawManifest): Promise<void> {
    return this.layout.putManifest(m);
  }
  async commit(): Promise<void> {
    await this.layout.commit();
    const blobs = fs.readdirSync(path.join(this.work, 'blobs', 'sha256')).sort().map((b) => `blobs/sha256/${b}`);
    const tmp = `${this.work}.tar`;
    try {
      await tarDirectory(this.work, ['oci-layout', 'index.json', 'blobs', 'blobs/sha256', ...blobs], new ArchiveWriter(fs.createWriteStream(tmp), Date.now() / 1000));
      fs.renameSync(tmp, this.file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  async close(): Promise<void> {
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
