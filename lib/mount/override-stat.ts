import type { Overlay, OverlayNode } from '../engine';
import * as sys from '../sys';

/**
 * xattr_permissions=2 (containers/storage's force_mask, rootless): ownership and permission bits live
 * in `user.containers.override_stat` = "uid:gid:0mode" instead of in the inode, which an unprivileged
 * server could not chown. The mount shows the recorded values; chown/chmod through the mount record
 * new ones; the xattr itself is never shown. xattr_permissions=1 does the same in fuse-overlayfs'
 * privileged xattr, `security.fuseoverlayfs.override_stat` (a root server; users cannot forge it).
 */
export const OVERRIDE_XATTR = 'user.containers.override_stat';
export const PRIVILEGED_OVERRIDE_XATTR = 'security.fuseoverlayfs.override_stat';

/** The xattr that records ownership and mode for xattr_permissions=1 or 2. */
export function overrideXattrFor(xattrPermissions: 1 | 2): string {
  return xattrPermissions === 1 ? PRIVILEGED_OVERRIDE_XATTR : OVERRIDE_XATTR;
}

export interface Override {
  uid: number;
  gid: number;
  /** Permission bits (07777). */
  mode: number;
}

export function parseOverride(value: Buffer): Override | null {
  const [uid, gid, mode] = value.toString('latin1').trim().split(':');
  if (!/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '') || !/^[0-7]+$/.test(mode ?? '')) return null;
  return { uid: Number(uid), gid: Number(gid), mode: parseInt(mode, 8) & 0o7777 };
}

export function formatOverride(o: Override): Buffer {
  return Buffer.from(`${o.uid}:${o.gid}:0${(o.mode & 0o7777).toString(8)}`);
}

export class StatOverride {
  constructor(readonly xattr: string = OVERRIDE_XATTR) {}

  /** The recorded values of `node`, or null when it has none. */
  read(ov: Overlay, node: OverlayNode): Override | null {
    if (node.type === sys.S.IFLNK) return null; // user.* xattrs cannot be set on symlinks
    try {
      return parseOverride(ov.getxattr(node, this.xattr));
    } catch {
      return null;
    }
  }

  /** Records new values for `path` (merged over what it shows now). */
  async write(ov: Overlay, path: string, change: Partial<Override>, shown: Override): Promise<void> {
    const node = ov.resolve(path);
    if (node.type === sys.S.IFLNK) return;
    await ov.setxattr(path, this.xattr, formatOverride({
      uid: change.uid ?? shown.uid,
      gid: change.gid ?? shown.gid,
      mode: change.mode ?? shown.mode,
    }));
  }
}
