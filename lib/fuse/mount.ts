/**
 * mountFuse: mount a FUSE filesystem, serve it with a FuseSession and resolve once INIT has been
 * answered. Two ways in:
 *  - root: open /dev/fuse and mount(2) it ourselves;
 *  - anyone else (or `fusermount: true`): fusermount3 (setuid root) mounts it and hands the fd back
 *    over a socket (_FUSE_COMMFD, as libfuse does); unmounting goes through `fusermount3 -u`.
 *    Passthrough is not available then (FUSE_DEV_IOC_BACKING_OPEN needs CAP_SYS_ADMIN).
 * Stale mounts ("Transport endpoint is not connected") on the mountpoint are cleared with a lazy
 * umount first; a process 'exit' hook lazily unmounts whatever is still mounted.
 */
import * as fs from 'fs';
import * as sys from '../sys';
import { FuseSession, FuseSessionOptions, sessionMaxWrite } from './session';
import type { FuseOperations } from './operations';

export interface MountOptions extends FuseSessionOptions {
  mountpoint: string;
  /** mount source shown in /proc/mounts (default 'layerfs') */
  fsname?: string;
  /** type becomes 'fuse.<subtype>' (default 'layerfs') */
  subtype?: string;
  /** unprivileged, this needs `user_allow_other` in /etc/fuse.conf */
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  /** MS_* flags added to the default MS_NOSUID|MS_NODEV */
  mountFlags?: number;
  /** wait this long for INIT before giving up (ms, default 10000) */
  initTimeoutMs?: number;
  /** mount through fusermount3 (default: when not root) */
  fusermount?: boolean;
}

export interface FuseMount {
  readonly mountpoint: string;
  readonly session: FuseSession;
  /** true when mounted through fusermount3 (unprivileged) */
  readonly viaFusermount: boolean;
  /** umount2 / fusermount3 -u (lazy if busy), then wait for the session to end; idempotent */
  unmount(): Promise<void>;
}

/** live mounts: mountpoint -> its mount (mounted through fusermount3 or not) */
const live = new Map<string, { viaFusermount: boolean }>();
let exitHook = false;

function detach(mp: string, viaFusermount: boolean): void {
  if (viaFusermount) sys.fusermountUnmount(mp, true);
  else sys.umount2(mp, sys.MNT.DETACH);
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const [mp, { viaFusermount }] of live) {
      try { detach(mp, viaFusermount); } catch { /* nothing we can do */ }
    }
    live.clear();
  });
}

function isRoot(): boolean {
  return (process.getuid?.() ?? 0) === 0;
}

/**
 * lazily unmount a dead FUSE mount left on mountpoint (stat gives ENOTCONN); true if one was cleared.
 * Not root, this goes through `fusermount3 -u -z` (which only unmounts the caller's own mounts).
 */
export function clearStaleMount(mountpoint: string, viaFusermount = !isRoot()): boolean {
  try {
    // statfs always reaches the server (a stat may be answered from the kernel's attribute cache).
    fs.statSync(mountpoint);
    fs.statfsSync(mountpoint);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') throw e;
  }
  detach(mountpoint, viaFusermount);
  return true;
}

function escapeOpt(s: string): string {
  return s.replace(/[\\,]/g, (c) => `\\${c}`);
}

/** fusermount3 -o options for these mount flags (it adds nosuid,nodev itself for non-root) */
function fusermountFlagOpts(flags: number): string[] {
  const names: [number, string][] = [
    [sys.MS.RDONLY, 'ro'], [sys.MS.NOSUID, 'nosuid'], [sys.MS.NODEV, 'nodev'], [sys.MS.NOEXEC, 'noexec'],
    [sys.MS.NOATIME, 'noatime'], [sys.MS.NODIRATIME, 'nodiratime'], [sys.MS.DIRSYNC, 'dirsync'],
    [sys.MS.SYNCHRONOUS, 'sync'],
  ];
  return names.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

export async function mountFuse(opts: MountOptions, ops: FuseOperations): Promise<FuseMount> {
  const mp = opts.mountpoint;
  const viaFusermount = opts.fusermount ?? !isRoot();
  clearStaleMount(mp, viaFusermount);
  installExitHook();
  let flags = sys.MS.NOSUID | sys.MS.NODEV | (opts.mountFlags ?? 0);
  if (opts.readOnly) flags |= sys.MS.RDONLY;
  const subtype = opts.subtype ?? 'layerfs';
  const fsname = escapeOpt(opts.fsname ?? 'layerfs');
  let session: FuseSession;
  if (viaFusermount) {
    if (opts.passthrough) opts.debug?.('passthrough off: not available to an unprivileged (fusermount3) mount, FUSE_DEV_IOC_BACKING_OPEN needs CAP_SYS_ADMIN');
    const sessionOpts: FuseSessionOptions = { ...opts, passthrough: false };
    // fusermount3 fills in fd=, rootmode=, user_id= and group_id= itself (and refuses them from us)
    const data = [
      `fsname=${fsname}`, ...(subtype ? [`subtype=${escapeOpt(subtype)}`] : []),
      ...fusermountFlagOpts(flags),
      ...(opts.allowOther ? ['allow_other'] : []),
      ...(opts.defaultPermissions ? ['default_permissions'] : []),
      `max_read=${sessionMaxWrite(sessionOpts)}`,
    ].join(',');
    opts.debug?.(`mounting ${mp} through fusermount3 -o ${data}`);
    const fd = sys.fuseMountFusermount(mp, data); // mounted when it returns
    session = new FuseSession(fd, ops, sessionOpts);
    try {
      session.start();
    } catch (e) {
      session.close();
      try { sys.fusermountUnmount(mp, true); } catch { /* gone */ }
      throw e;
    }
  } else {
    const st = fs.statSync(mp);
    const rootmode = (st.mode & 0o170000).toString(8);
    const fd = sys.fuseOpen();
    session = new FuseSession(fd, ops, opts);
    const data = [
      `fd=${fd}`, `rootmode=${rootmode}`, `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`,
      ...(opts.allowOther ? ['allow_other'] : []),
      ...(opts.defaultPermissions ? ['default_permissions'] : []),
      `max_read=${session.maxWrite}`,
    ].join(',');
    try {
      sys.fuseMount(fsname, mp, subtype ? `fuse.${subtype}` : 'fuse', flags, data);
      // only now: before mount(2) the device has no connection and read(2) fails with EPERM
      session.start();
    } catch (e) {
      session.close();
      throw e;
    }
  }
  const entry = { viaFusermount };
  live.set(mp, entry);
  const forget = () => { if (live.get(mp) === entry) live.delete(mp); };
  // Once the kernel has ended the session (unmounted from outside), the mountpoint is not ours any
  // more: a later mount (of this process too, through the mount service) may sit there now.
  let sessionEnded = false;
  void session.ended.then(() => { sessionEnded = true; forget(); });
  let unmounted: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounted ??= (async () => {
      if (sessionEnded) {
        session.close();
        return;
      }
      forget();
      try {
        if (viaFusermount) sys.fusermountUnmount(mp);
        else sys.umount2(mp, 0);
      } catch (e) {
        if (sys.isSysError(e, 'EBUSY')) detach(mp, viaFusermount);
        else if (!sys.isSysError(e, 'EINVAL') && !sys.isSysError(e, 'ENOENT')) throw e; // EINVAL: not mounted
      }
      // after umount the reader gets ENODEV; a lazy umount with busy files may keep it alive: cap the wait
      const timer = new Promise<void>((res) => setTimeout(res, 2000).unref());
      await Promise.race([session.ended, timer]);
      session.close();
    })();
    return unmounted;
  };
  const timeoutMs = opts.initTimeoutMs ?? 10000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      session.initialized,
      new Promise((_res, rej) => { timer = setTimeout(() => rej(new Error(`FUSE INIT not received within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } catch (e) {
    await unmount().catch(() => undefined);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { mountpoint: mp, session, viaFusermount, unmount };
}
