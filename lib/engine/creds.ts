/** Who asks for a change: new objects belong to them (the FUSE request's uid/gid). */
export interface Caller {
  uid: number;
  gid: number;
}

export function processCaller(): Caller {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}
