/**
 * The docker:// transport as an ImageDestination: HEAD each blob first, mount it from another
 * repository of the same registry when one is known to hold it, else upload it (one streamed PUT,
 * or PATCH chunks that can each be resent when `chunkSize` is set); manifests go by digest as
 * they come and the last one by tag at commit (an index's children must exist before it).
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { Descriptor, Digest, ImageDestination, RawManifest } from '../types';
import { repoScope } from './auth';
import { BlobLocations, defaultBlobLocations } from './blob-locations';
import { ClientOptions, RegistryClient } from './client';
import { RegistryError } from './errors';
import { drain, HttpResponse, readBody } from './http';
import { formatReference, parseReference, RegistryReference } from './reference';
import { sha256 } from './source';

export interface DestinationOptions extends ClientOptions {
  blobLocations?: BlobLocations;
  /** upload blobs larger than this in PATCH chunks of this size; 0 (default): one streamed PUT */
  chunkSize?: number;
  /** told what happened to each blob: uploaded, mounted (from another repository) or present */
  onBlob?: (desc: Descriptor, how: 'uploaded' | 'mounted' | 'present') => void;
}

export class DockerDestination implements ImageDestination {
  readonly reference: string;
  readonly ref: RegistryReference;
  readonly client: RegistryClient;
  /** digest of the last manifest written: what the reference names after commit() */
  manifestDigest?: Digest;
  private last?: RawManifest;
  private readonly locations: BlobLocations;
  private readonly pushScope: string;

  constructor(
    reference: string | RegistryReference,
    private readonly opts: DestinationOptions = {},
  ) {
    this.ref = typeof reference === 'string' ? parseReference(reference) : reference;
    if (this.ref.digest !== undefined && this.ref.tag !== undefined) {
      throw new RegistryError('EINVAL', `cannot push to ${formatReference(this.ref)}: name a tag or a digest, not both`);
    }
    this.reference = `docker://${formatReference(this.ref)}`;
    this.client = new RegistryClient(this.ref.registry, this.ref.repository, opts);
    this.locations = opts.blobLocations ?? defaultBlobLocations;
    this.pushScope = repoScope(this.ref.repository, 'pull,push');
  }

  private blobPath(digest: Digest): string {
    return `/v2/${this.ref.repository}/blobs/${digest}`;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const res = await this.client.request({
      method: 'HEAD',
      path: this.blobPath(desc.digest),
      scopes: [this.pushScope],
      ok: [200, 404],
      what: `blob ${desc.digest} of ${this.ref.repository}`,
      notFound: 'BLOB_UNKNOWN',
    });
    drain(res);
    if (res.status === 200) {
      this.opts.onBlob?.(desc, 'present');
      return true;
    }
    for (const from of this.locations.candidates(this.ref.registry, this.ref.repository, desc.digest)) {
      if (await this.tryMount(desc, from)) {
        this.locations.add(this.ref.registry, this.ref.repository, desc.digest);
        this.opts.onBlob?.(desc, 'mounted');
        return true;
      }
    }
    return false;
  }

  /** Cross-repository mount: 201 when the registry linked the blob, 202 when it opened an upload instead. */
  private async tryMount(desc: Descriptor, from: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: desc.digest, from });
    let res: HttpResponse;
    try {
      res = await this.client.request({
        method: 'POST',
        path: `/v2/${this.ref.repository}/blobs/uploads/?${q}`,
        scopes: [this.pushScope, repoScope(from, 'pull')],
        ok: [201, 202],
        what: `a mount of ${desc.digest} from ${from}`,
      });
    } catch (err) {
      const code = (err as RegistryError).code;
      if (code === 'UNAUTHORIZED' || code === 'DENIED' || code === 'BLOB_UNKNOWN' || code === 'NAME_UNKNOWN') return false;
      throw err;
    }
    drain(res);
    if (res.status === 201) return true;
    const loc = res.headers.location;
    if (loc) {
      // the upload the registry opened instead is abandoned; it expires on its own if DELETE fails
      await this.client
        .request({ method: 'DELETE', path: loc, scopes: [this.pushScope], ok: [200, 202, 204, 404], what: 'an unused upload' })
        .then(drain, () => undefined);
    }
    return false;
  }

  private async startUpload(desc: Descriptor): Promise<string> {
    const res = await this.client.request({
      method: 'POST',
      path: `/v2/${this.ref.repository}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      scopes: [this.pushScope],
      ok: [202],
      what: `an upload of ${desc.digest} to ${this.ref.repository}`,
      notFound: 'NAME_UNKNOWN',
    });
    drain(res);
    const loc = res.headers.location;
    if (!loc) throw new RegistryError('REGISTRY', `${this.ref.registry} opened an upload without a Location`);
    return loc;
  }

  private digestError(err: unknown, desc: Descriptor): unknown {
    const e = err as RegistryError;
    if (e.status === 400 && /DIGEST_INVALID|SIZE_INVALID/.test(e.message)) {
      return new RegistryError('DIGEST_MISMATCH', `digest mismatch: the registry refused blob ${desc.digest} (its bytes do not match)`, { cause: err });
    }
    return err;
  }

  async putBlob(desc: Descriptor, data: Readable): Promise<void> {
    const chunk = this.opts.chunkSize ?? 0;
    let location = await this.startUpload(desc);
    const hash = createHash('sha256');
    let size = 0;
    const what = `blob ${desc.digest} of ${this.ref.repository}`;
    try {
      if (chunk > 0 && desc.size > chunk) {
        for await (const piece of chunks(data, chunk)) {
          hash.update(piece);
          const res = await this.client.request({
            method: 'PATCH',
            path: location,
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${size}-${size + piece.length - 1}` },
            body: piece,
            scopes: [this.pushScope],
            ok: [202],
            what,
          });
          drain(res);
          size += piece.length;
          location = res.headers.location ?? location;
        }
        this.checkLocal(desc, hash, size);
        const url = withDigest(location, desc.digest);
        const res = await this.client.request({ method: 'PUT', path: url, headers: { 'content-length': '0' }, scopes: [this.pushScope], ok: [201], what });
        drain(res);
      } else {
        const counted = new Transform({
          transform(c: Buffer, _e, cb) {
            hash.update(c);
            size += c.length;
            cb(null, c);
          },
        });
        data.once('error', (e) => counted.destroy(e));
        const res = await this.client.request({
          method: 'PUT',
          path: withDigest(location, desc.digest),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
          body: data.pipe(counted),
          scopes: [this.pushScope],
          ok: [201],
          what,
        });
        await readBody(res).catch(() => undefined);
        this.checkLocal(desc, hash, size);
      }
    } catch (err) {
      throw this.digestError(err, desc);
    }
    this.locations.add(this.ref.registry, this.ref.repository, desc.digest);
    this.opts.onBlob?.(desc, 'uploaded');
  }

  private checkLocal(desc: Descriptor, hash: ReturnType<typeof createHash>, size: number): void {
    const got = `sha256:${hash.digest('hex')}`;
    if (size !== desc.size) throw new RegistryError('SIZE_MISMATCH', `size mismatch: blob ${desc.digest} has ${size} bytes, its descriptor says ${desc.size}`);
    if (got !== desc.digest) throw new RegistryError('DIGEST_MISMATCH', `digest mismatch: blob ${desc.digest} has digest ${got}`);
  }

  private async putManifestAt(m: RawManifest, name: string): Promise<void> {
    const res = await this.client.request({
      method: 'PUT',
      path: `/v2/${this.ref.repository}/manifests/${name}`,
      headers: { 'content-type': m.mediaType },
      body: m.bytes,
      scopes: [this.pushScope],
      ok: [201],
      what: `manifest ${name} of ${this.ref.repository}`,
    });
    drain(res);
  }

  async putManifest(m: RawManifest): Promise<void> {
    const digest = sha256(m.bytes);
    await this.putManifestAt(m, digest);
    this.last = m;
    this.manifestDigest = digest;
  }

  async commit(): Promise<void> {
    if (!this.last) throw new RegistryError('EINVAL', `nothing to commit to ${this.reference}: no manifest was written`);
    if (this.ref.digest !== undefined && this.ref.digest !== this.manifestDigest) {
      throw new RegistryError('DIGEST_MISMATCH', `digest mismatch: pushed manifest ${this.manifestDigest}, the reference names ${this.ref.digest}`);
    }
    if (this.ref.tag !== undefined) await this.putManifestAt(this.last, this.ref.tag);
  }

  async close(): Promise<void> {
    this.locations.save();
    this.client.close();
  }
}

function withDigest(location: string, digest: Digest): string {
  const base = 'http://placeholder';
  const u = new URL(location, base);
  u.searchParams.append('digest', digest);
  return location.startsWith('http://') || location.startsWith('https://') ? u.toString() : `${u.pathname}${u.search}`;
}

/** Re-cuts a stream into pieces of exactly `size` bytes (the last one shorter). */
async function* chunks(data: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of data as AsyncIterable<Buffer>) {
    let buf = c;
    while (n + buf.length >= size) {
      const take = size - n;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
      buf = buf.subarray(take);
    }
    if (buf.length) {
      parts.push(buf);
      n += buf.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts);
}
