/**
 * POSIX ACL inheritance for new objects, as the kernel's posix_acl_create() does it: a new object in
 * a directory with a default ACL gets no umask; its mode and access ACL are the default ACL masked
 * with the requested mode, and a new directory inherits the default ACL itself. Overlayfs computes
 * this on the merged parent and writes the result on the upper object (ovl_set_upper_acl); so do we,
 * which makes it right also for objects made in work/ and renamed into place.
 *
 * Xattr format (include/uapi/linux/posix_acl_xattr.h): a little-endian u32 version (2), then
 * entries of { u16 tag, u16 perm, u32 id }.
 */

export const ACL_ACCESS = 'system.posix_acl_access';
export const ACL_DEFAULT = 'system.posix_acl_default';

const VERSION = 2;
const HEADER = 4;
const ENTRY = 8;
const TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;
const S_IRWXUGO = 0o777;

export interface InheritedAcl {
  /** The new object's mode: permission bits as masked by the ACL, other bits as requested. */
  mode: number;
  /** Its access ACL, or null when the ACL says no more than the mode does. */
  access: Buffer | null;
  /** A new directory's default ACL (the parent's), else null. */
  default: Buffer | null;
}

/** True when `value` is a well-formed ACL xattr. */
export function isAclXattr(value: Buffer): boolean {
  return value.length >= HEADER && (value.length - HEADER) % ENTRY === 0 && value.readUInt32LE(0) === VERSION;
}

/**
 * What a new object of `mode` gets in a directory whose default ACL is `defaultAcl`
 * (posix_acl_create + posix_acl_create_masq). Throws EIO-coded errors on a malformed ACL.
 */
export function inheritAcl(defaultAcl: Buffer, mode: number, isDir: boolean): InheritedAcl {
  if (!isAclXattr(defaultAcl)) throw Object.assign(new Error('malformed default ACL'), { code: 'EIO' });
  const acl = Buffer.from(defaultAcl);
  let perms = mode & S_IRWXUGO;
  let notEquivalent = false;
  let groupObj = -1;
  let maskObj = -1;
  for (let off = HEADER; off < acl.length; off += ENTRY) {
    const tag = acl.readUInt16LE(off);
    const perm = acl.readUInt16LE(off + 2);
    switch (tag) {
      case TAG.USER_OBJ: {
        const p = perm & ((perms >> 6) & 7);
        acl.writeUInt16LE(p, off + 2);
        perms &= (p << 6) | ~0o700;
        break;
      }
      case TAG.USER:
      case TAG.GROUP:
        notEquivalent = true;
        break;
      case TAG.GROUP_OBJ:
        groupObj = off;
        break;
      case TAG.OTHER: {
        const p = perm & (perms & 7);
        acl.writeUInt16LE(p, off + 2);
        perms &= p | ~0o007;
        break;
      }
      case TAG.MASK:
        maskObj = off;
        notEquivalent = true;
        break;
      default:
        throw Object.assign(new Error(`unknown ACL tag ${tag}`), { code: 'EIO' });
    }
  }
  // The group bits of the mode are the mask's if there is one, else the owning group's entry.
  const groupEntry = maskObj >= 0 ? maskObj : groupObj;
  if (groupEntry < 0) throw Object.assign(new Error('ACL without a group entry'), { code: 'EIO' });
  const g = acl.readUInt16LE(groupEntry + 2) & ((perms >> 3) & 7);
  acl.writeUInt16LE(g, groupEntry + 2);
  perms &= (g << 3) | ~0o070;
  return {
    mode: (mode & ~S_IRWXUGO) | (perms & S_IRWXUGO),
    access: notEquivalent ? acl : null,
    default: isDir ? Buffer.from(defaultAcl) : null,
  };
}
