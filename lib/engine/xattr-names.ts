/**
 * The overlay's own xattrs and how user xattrs are escaped around them (kernel fs/overlayfs/xattrs.c).
 * With `userxattr` the private prefix is `user.overlay.`, else `trusted.overlay.`. A user xattr whose
 * name starts with the private prefix is stored as `<prefix>overlay.<rest>` so that an overlay can be
 * a layer of another overlay ("escaped" xattrs).
 */
export class OverlayXattrs {
  readonly prefix: string;
  readonly opaque: string;
  readonly redirect: string;
  readonly whiteout: string;
  readonly metacopy: string;
  readonly origin: string;
  /** Ours (the kernel ignores it): the inode number an object had before copy-up. */
  readonly inoNumber: string;
  /** Ours: the merged link count of a copied-up lower hard link. */
  readonly nlink: string;
  private readonly escapedPrefix: string;
  /** Both prefixes' markers are honoured when reading layers (layers built for either mode still work). */
  private readonly markerPrefixes: string[];

  constructor(userxattr: boolean) {
    this.prefix = userxattr ? 'user.overlay.' : 'trusted.overlay.';
    this.opaque = this.prefix + 'opaque';
    this.redirect = this.prefix + 'redirect';
    this.whiteout = this.prefix + 'whiteout';
    this.metacopy = this.prefix + 'metacopy';
    this.origin = this.prefix + 'origin';
    this.inoNumber = this.prefix + 'layerfs.ino';
    this.nlink = this.prefix + 'layerfs.nlink';
    this.escapedPrefix = this.prefix + 'overlay.';
    this.markerPrefixes = userxattr ? ['user.overlay.', 'trusted.overlay.'] : ['trusted.overlay.', 'user.overlay.'];
  }

  /** Names under which a marker (`opaque`, `whiteout`...) may be found, preferred first. */
  markerNames(marker: string): string[] {
    return this.markerPrefixes.map((p) => p + marker);
  }

  /** True for a stored name the user must never see (a private xattr that is not an escaped one). */
  isPrivate(stored: string): boolean {
    return stored.startsWith(this.prefix) && !stored.startsWith(this.escapedPrefix);
  }

  /** The stored name of a user-visible name. */
  toStored(visible: string): string {
    return visible.startsWith(this.prefix) ? this.prefix + 'overlay.' + visible.slice(this.prefix.length) : visible;
  }

  /** The visible name of a stored name, or null when it is private. */
  toVisible(stored: string): string | null {
    if (!stored.startsWith(this.prefix)) return stored;
    if (stored.startsWith(this.escapedPrefix)) return this.prefix + stored.slice(this.escapedPrefix.length);
    return null;
  }
}
