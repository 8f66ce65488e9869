/**
 * When a change to a file's data clears its set-user-ID and set-group-ID bits: the policy, in one
 * place (issue 17). The kernel's rules (setattr_should_drop_suidgid), which overlayfs applies to
 * its own inode before it writes the upper file with the mounter's credentials:
 *
 *   - a write (write, pwrite, writev, O_APPEND, O_DIRECT), truncate, fallocate (any mode) or
 *     copy_file_range into the file by a caller without CAP_FSETID clears S_ISUID, and S_ISGID when
 *     the file is group-executable or the caller is not in the file's group;
 *   - a caller with CAP_FSETID keeps both; a write fault on a shared mapping clears nothing.
 *
 * Under FUSE the server writes with its own credentials (root, CAP_FSETID), so the file system
 * applies the rule itself. The kernel (FUSE_HANDLE_KILLPRIV_V2) says when on WRITE, SETATTR and
 * OPEN with O_TRUNC (it checked the caller's CAP_FSETID), but not on FALLOCATE or COPY_FILE_RANGE,
 * and passthrough writes never reach the server at all: see `mayPassThrough`. The kernel writes a
 * backing file with the credentials of the thread that registered it, and sys.fuseBackingOpen
 * registers without CAP_FSETID: a file that got set-ID bits while open for writing in passthrough
 * loses them at its next write, whoever writes (the adapter then lets the kernel cache none of its
 * attributes).
 */
import * as fs from 'node:fs';

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_IXGRP = 0o010;
/** capability number of CAP_FSETID */
const CAP_FSETID = 4n;

/** Who changes a file, as far as the set-ID rule cares. */
export interface Writer {
  /** Has CAP_FSETID (in the server's user namespace). */
  readonly fsetid: boolean;
  /** Whether the caller is in group `gid` (its filesystem gid or a supplementary group). */
  inGroup(gid: number): boolean;
}

/** Whether `mode` has a bit a write may clear (an open of such a file for writing needs care). */
export function hasSetId(mode: number): boolean {
  return (mode & (S_ISUID | S_ISGID)) !== 0;
}

/**
 * The mode (permission bits) a file of mode `mode` and group `gid` is left with once `writer`
 * changed its data, or chowned it (FATTR_KILL_SUIDGID: the kernel sends it on every chown, and on
 * a truncate by a caller without CAP_FSETID). `killRequested`: the kernel asked for the clearing
 * (it found the caller without CAP_FSETID, or it is a chown): S_ISUID goes whoever the caller is.
 */
export function modeAfterChange(mode: number, gid: number, writer: Writer, killRequested: boolean): number {
  const bits = mode & 0o7777;
  if (!killRequested && writer.fsetid) return bits;
  let out = bits & ~S_ISUID;
  if ((bits & S_ISGID) !== 0 && ((bits & S_IXGRP) !== 0 || !(writer.fsetid || writer.inGroup(gid)))) out &= ~S_ISGID;
  return out;
}

/**
 * Passthrough hands the open file to the kernel, whose writes then go to the layer file with the
 * server's credentials and never reach the server: a file with set-ID bits opened for writing is
 * served instead (its WRITEs carry the kernel's FUSE_WRITE_KILL_SUIDGID), unless the kernel's inode
 * is in passthrough already (it takes one mode per open inode): then `modeAfterChange` applies at
 * the open, when the caller lacks CAP_FSETID (before any write: earlier than the kernel would).
 */
export function mayPassThrough(mode: number, forWriting: boolean): boolean {
  return !forWriting || !hasSetId(mode);
}

let ownUserNs: string | null | undefined;

function userNsOf(pid: number | 'self'): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/user`);
  } catch {
    return null;
  }
}

/**
 * The caller of a request (FUSE's uid, gid and pid, as the server's pid namespace sees it), its
 * capabilities and groups read from /proc: asked only for files that have set-ID bits. A caller
 * that cannot be read (gone, another pid namespace) counts as unprivileged and in its gid only:
 * the bits are cleared rather than kept.
 */
export function writerOf(caller: { uid: number; gid: number; pid: number }): Writer {
  let fsetid = false;
  let groups: number[] = [caller.gid];
  if (caller.pid > 0) {
    try {
      const status = fs.readFileSync(`/proc/${caller.pid}/status`, 'utf8');
      const cap = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
      ownUserNs ??= userNsOf('self');
      // CapEff counts in the caller's user namespace: only the server's is the kernel's (init) one
      fsetid = cap !== null && ((BigInt(`0x${cap[1]}`) >> CAP_FSETID) & 1n) === 1n
        && ownUserNs !== null && userNsOf(caller.pid) === ownUserNs;
      const g = /^Groups:([^\n]*)$/m.exec(status);
      if (g !== null) groups = groups.concat(g[1].trim().split(/\s+/).filter((s) => s !== '').map(Number));
    } catch {
      /* gone: unprivileged */
    }
  }
  return { fsetid, inGroup: (gid) => groups.includes(gid) };
}
