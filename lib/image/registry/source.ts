/**
 * The docker:// transport as an ImageSource: manifests (OCI and Docker v2 schema 2, indexes and
 * manifest lists) and blobs from a registry. A blob is a stream that survives cut connections and
 * truncated bodies by asking again with Range from the byte it reached (or skipping what it already
 * has when the registry ignores Range), so the consumer sees one clean stream or one error.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Descriptor, Digest, ImageSource, MediaType, RawManifest } from '../types';
import { repoScope } from './auth';
import { BlobLocations, defaultBlobLocations } from './blob-locations';
import { ClientOptions, RegistryClient } from './client';
import { networkError, RegistryError } from './errors';
import { drain } from './http';
import { formatReference, manifestReference, parseReference, RegistryReference } from './reference';

/** Every manifest kind layerfs reads, as registries expect to be asked (Docker Hub answers schema 1 otherwise). */
export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');

export interface SourceOptions extends ClientOptions {
  blobLocations?: BlobLocations;
  /** counts bytes as they arrive (every attempt's, for the figures) */
  onBytes?: (n: number) => void;
}

export function sha256(b: Buffer): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The media type of manifest bytes: their own mediaType field, else Content-Type, else by shape. */
export function manifestMediaType(bytes: Buffer, contentType: string | undefined, what: string): string {
  let j: { mediaType?: string; schemaVersion?: number; manifests?: unknown; config?: unknown };
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError('REGISTRY', `${what} is not JSON`);
  }
  if (j.schemaVersion === 1) throw new RegistryError('UNSUPPORTED', `${what} is a Docker schema 1 manifest, which layerfs does not read`);
  if (typeof j.mediaType === 'string' && j.mediaType) return j.mediaType;
  const ct = contentType?.split(';')[0]?.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain') return ct;
  return Array.isArray(j.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
}

export class DockerSource implements ImageSource {
  readonly reference: string;
  readonly ref: RegistryReference;
  readonly client: RegistryClient;
  /** digest of the manifest the reference named (after the first getManifest()) */
  resolvedDigest?: Digest;
  private readonly locations: BlobLocations;
  private readonly pullScope: string;

  constructor(
    reference: string | RegistryReference,
    private readonly opts: SourceOptions = {},
  ) {
    this.ref = typeof reference === 'string' ? parseReference(reference) : reference;
    this.reference = `docker://${formatReference(this.ref)}`;
    this.client = new RegistryClient(this.ref.registry, this.ref.repository, opts);
    this.locations = opts.blobLocations ?? defaultBlobLocations;
    this.pullScope = repoScope(this.ref.repository, 'pull');
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const name = digest ?? manifestReference(this.ref);
    const what = `manifest ${name} of ${this.ref.repository}`;
    let got;
    try {
      got = await this.client.getBytes(
        { path: `/v2/${this.ref.repository}/manifests/${name}`, headers: { accept: MANIFEST_ACCEPT }, scopes: [this.pullScope], what, notFound: 'MANIFEST_UNKNOWN' },
        4 * 1024 * 1024,
      );
    } catch (err) {
      if ((err as RegistryError).code === 'MANIFEST_UNKNOWN' && !(await this.repositoryExists())) {
        throw new RegistryError('NAME_UNKNOWN', `name unknown: repository ${this.ref.repository} not found on ${this.ref.registry}`, { status: 404 });
      }
      throw err;
    }
    const { res, body } = got;
    const actual = sha256(body);
    if (name.startsWith('sha256:') && actual !== name) {
      throw new RegistryError('DIGEST_MISMATCH', `digest mismatch: ${what} has digest ${actual}`);
    }
    if (digest === undefined) this.resolvedDigest = actual;
    return { bytes: body, mediaType: manifestMediaType(body, res.headers['content-type'], what) };
  }

  /** Some registries (distribution 2.x) answer MANIFEST_UNKNOWN for a repository that does not exist: its tag list tells. */
  private async repositoryExists(): Promise<boolean> {
    try {
      const res = await this.client.request({
        method: 'GET',
        path: `/v2/${this.ref.repository}/tags/list?n=1`,
        scopes: [this.pullScope],
        ok: [200],
        what: `the tags of ${this.ref.repository}`,
        notFound: 'NAME_UNKNOWN',
      });
      drain(res);
      return true;
    } catch (err) {
      return (err as RegistryError).code !== 'NAME_UNKNOWN';
    }
  }

  getBlob(desc: Descriptor, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    return Promise.resolve(this.blobStream(desc, opts.offset ?? 0, opts.signal));
  }

  /** The resuming stream (see the file comment). */
  private blobStream(desc: Descriptor, offset: number, signal?: AbortSignal): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    out.once('close', () => ctl.abort());
    const path = `/v2/${this.ref.repository}/blobs/${desc.digest}`;
    const what = `blob ${desc.digest} of ${this.ref.repository}`;
    const client = this.client;
    let pos = offset;
    const run = async (): Promise<void> => {
      for (let attempt = 0; ; ) {
        try {
          const res = await client.request({
            method: 'GET',
            path,
            headers: pos > 0 ? { range: `bytes=${pos}-` } : {},
            scopes: [this.pullScope],
            ok: [200, 206],
            what,
            notFound: 'BLOB_UNKNOWN',
            signal: ctl.signal,
          });
          let skip = 0;
          if (res.status === 200) skip = pos;
          else {
            const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
            const start = m ? Number(m[1]) : pos;
            if (start > pos) throw new RegistryError('REGISTRY', `${what}: asked for bytes from ${pos}, got from ${start}`);
            skip = pos - start;
          }
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              if (c.length <= skip) {
                skip -= c.length;
                this.opts.onBytes?.(chunk.length);
                continue;
              }
              c = c.subarray(skip);
              skip = 0;
            }
            this.opts.onBytes?.(chunk.length);
            if (pos + c.length > desc.size) {
              res.body.destroy();
              throw new RegistryError('SIZE_MISMATCH', `size mismatch: ${what} is longer than the ${desc.size} bytes its descriptor says`);
            }
            pos += c.length;
            attempt = 0; // progress: a later cut starts the count again
            if (!out.write(c)) await once(out, 'drain', { signal: ctl.signal });
          }
          if (pos < desc.size) throw new RegistryError('TRUNCATED', `${what} cut at ${pos} of ${desc.size} bytes`, { retryable: true });
          this.locations.add(this.ref.registry, this.ref.repository, desc.digest);
          out.end();
          return;
        } catch (e) {
          if (ctl.signal.aborted) {
            out.destroy(new RegistryError('ABORTED', `${what}: aborted`));
            return;
          }
          const err = networkError(e, client.host);
          if (!err.retryable || attempt >= client.retries) {
            out.destroy(err);
            return;
          }
          client.stats.retries++;
          await sleep(client.backoff(attempt++, err.retryAfter));
        }
      }
    };
    run().finally(() => signal?.removeEventListener('abort', onAbort));
    return out;
  }

  async close(): Promise<void> {
    this.locations.save();
    this.client.close();
  }
}
