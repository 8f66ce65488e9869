/** What INIT settled that the adapter acts on, given to it in one piece (OverlayFuseOps.negotiated). */
import type { FuseSession } from '../fuse';
import { INIT } from '../fuse';
import type { Passthrough } from './io-mode';

export interface Negotiated {
  /**
   * FUSE_POSIX_ACL with FUSE_DONT_MASK: the kernel sends modes without the umask applied (and the
   * umask beside them), since a default ACL replaces the umask; the engine applies either.
   */
  unmaskedModes: boolean;
  /** FUSE_WRITEBACK_CACHE: the kernel reads pages of files opened write-only, and appends itself. */
  writebackCache: boolean;
  /**
   * Kernel opens (FUSE's no_open): OPEN is answered ENOSYS, after which the kernel opens and closes
   * files itself (open(2) and close(2) cost no round trip) and keeps each inode's page cache across
   * opens; READs and WRITEs name only the node (lib/mount/node-files.ts). Needs served I/O:
   * passthrough is set up by OPEN.
   */
  kernelOpens: boolean;
  /** FUSE_PASSTHROUGH: hands open files to the kernel (null: every open served). */
  passthrough: Passthrough | null;
  /**
   * Tells the kernel that a node's attributes changed outside a reply that carries them (set-ID
   * bits cleared on a WRITE, OPEN, FALLOCATE or COPY_FILE_RANGE): it would show its cached mode.
   */
  attrsChanged(nodeid: number): void;
}

/** Before INIT (and for an adapter driven without a kernel): nothing negotiated. */
export const NOTHING_NEGOTIATED: Readonly<Negotiated> = Object.freeze({
  unmaskedModes: false,
  writebackCache: false,
  kernelOpens: false,
  passthrough: null,
  attrsChanged: () => undefined,
});

/** What `session` negotiated at INIT. */
export function negotiatedOf(session: FuseSession): Negotiated {
  const n = session.negotiated;
  const flags = n?.flags ?? 0n;
  return {
    unmaskedModes: (flags & INIT.DONT_MASK) !== 0n,
    writebackCache: (flags & INIT.WRITEBACK_CACHE) !== 0n,
    kernelOpens: n?.noOpen === true,
    passthrough: n?.passthrough ? { open: (fd) => session.backingOpen(fd), close: (id) => session.backingClose(id) } : null,
    // attributes only (offset -1): takes no page lock, so it may be sent while the kernel waits on a WRITE
    attrsChanged: (nodeid) => void session.notifyInvalInode(nodeid, -1, 0),
  };
}
