/** A container:host:length triple (fuse-overlayfs' uidmapping= / gidmapping=). */
export interface IdRange {
  container: number;
  host: number;
  length: number;
}

/** The id shown for a stored id that no range maps (the kernel's overflow id). */
export const OVERFLOW_ID = 65534;

/**
 * Ownership translation at the FUSE edge, as fuse-overlayfs does for rootless containers: ids stored
 * in the layers are host ids; the container sees them through the ranges (or all as one id when
 * squashed), and ids the container sets are stored as host ids.
 */
export class IdMap {
  constructor(private readonly ranges: readonly IdRange[] = [], private readonly squash?: number) {}

  get identity(): boolean {
    return this.ranges.length === 0 && this.squash === undefined;
  }

  /** Stored (host) id -> id shown in the mount. */
  toContainer(host: number): number {
    if (this.squash !== undefined) return this.squash;
    if (this.ranges.length === 0) return host;
    for (const r of this.ranges) if (host >= r.host && host < r.host + r.length) return r.container + (host - r.host);
    return OVERFLOW_ID;
  }

  /** Id given in the mount -> id stored in the upper layer. */
  toHost(container: number): number {
    if (this.ranges.length === 0) return container;
    for (const r of this.ranges) if (container >= r.container && container < r.container + r.length) return r.host + (container - r.container);
    return OVERFLOW_ID;
  }
}
