/**
 * The image side's shared vocabulary: OCI descriptors, manifests, indexes and configs (image-spec
 * v1.1), and the transport interface every image location implements (an OCI layout, an archive,
 * a registry, the store itself), as containers/image does: a copy reads an ImageSource and writes
 * an ImageDestination, whatever each one is.
 */
import type { Readable } from 'node:stream';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** "sha256:<64 hex>" */
export type Digest = string;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

/** A manifest as stored or sent: its exact bytes (the digest is over them) and its media type. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
}

/** What a long transfer reports, per blob (the CLI draws it; the library passes it through). */
export interface BlobProgress {
  digest: Digest;
  /** waiting | downloading | extracting | done | present (the destination already had it) */
  state: 'waiting' | 'downloading' | 'extracting' | 'done' | 'present';
  bytes: number;
  total: number;
}

/**
 * Where an image is read from. Implementations: oci: (a layout directory), oci-archive:,
 * docker-archive:, tarball:, docker:// (a registry), and the store.
 */
export interface ImageSource {
  /** the reference as the user wrote it, for messages */
  readonly reference: string;
  /**
   * The manifest named by the reference (digest undefined) or by `digest`. May be an index or a
   * manifest list: the copy picks a platform and asks again by digest. A transport whose format has
   * no manifest (docker-archive:, tarball:) synthesises an OCI one.
   */
  getManifest(digest?: Digest): Promise<RawManifest>;
  /**
   * A blob's bytes, from `offset` (for resuming) when given. The caller verifies the digest as the
   * bytes stream and fails the copy on a mismatch.
   */
  getBlob(desc: Descriptor, opts?: { offset?: number; signal?: AbortSignal }): Promise<Readable>;
  close(): Promise<void>;
}

/** Where an image is written to. */
export interface ImageDestination {
  readonly reference: string;
  /** true when the destination already holds this blob (a copy then skips it) */
  hasBlob(desc: Descriptor): Promise<boolean>;
  /**
   * writes a blob; the destination verifies its digest and size before it keeps it. `signal`
   * aborts a long write (the store extracts a layer while it streams in).
   */
  putBlob(desc: Descriptor, data: Readable, opts?: { signal?: AbortSignal }): Promise<void>;
  /** writes a manifest (or index), under the reference's tag when it has one */
  putManifest(manifest: RawManifest): Promise<void>;
  /** makes everything written visible at once (archives are written here; a layout's index.json) */
  commit(): Promise<void>;
  close(): Promise<void>;
}
