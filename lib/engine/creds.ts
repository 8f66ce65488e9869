/** Who asks for a change: new objects belong to them (the FUSE request's uid/gid). */
export interface Caller {
  uid: number;
  gid: number;
  /**
   * The caller's umask, when the mode it asks for is not masked yet (a FUSE mount with POSIX ACLs):
   * applied to a new object unless its directory has a default ACL, which then decides instead.
   * Undefined: the mode given is final.
   */
  umask?: number;
}

export function processCaller(): Caller {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}
