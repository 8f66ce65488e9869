/**
 * mountFuse: open /dev/fuse, mount(2) it (root only), serve it with a FuseSession and resolve once INIT
 * has been answered. Stale mounts ("Transport endpoint is not connected") on the mountpoint are cleared
 * with a lazy umount first; a process 'exit' hook lazily unmounts whatever is still mounted.
 * Not implemented: unprivileged mounting through fusermount3 (_FUSE_COMMFD): non-root callers get EPERM.
 */
import * as fs from 'fs';
import * as sys from '../sys';
import { FuseSession, FuseSessionOptions } from './session';
import type { FuseOperations } from './operations';

export interface MountOptions extends FuseSessionOptions {
  mountpoint: string;
  /** mount source shown in /proc/mounts (default 'layerfs') */
  fsname?: string;
  /** type becomes 'fuse.<subtype>' (default 'layerfs') */
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  /** MS_* flags added to the default MS_NOSUID|MS_NODEV */
  mountFlags?: number;
  /** wait this long for INIT before giving up (ms, default 10000) */
  initTimeoutMs?: number;
}

export interface FuseMount {
  readonly mountpoint: string;
  readonly session: FuseSession;
  /** umount2 (lazy if busy), then wait for the session to end; idempotent */
  unmount(): Promise<void>;
}

const live = new Set<string>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const mp of live) {
      try { sys.umount2(mp, sys.MNT.DETACH); } catch { /* nothing we can do */ }
    }
    live.clear();
  });
}

/** lazily unmount a dead FUSE mount left on mountpoint (stat gives ENOTCONN); true if one was cleared */
export function clearStaleMount(mountpoint: string): boolean {
  try {
    fs.statSync(mountpoint);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') throw e;
  }
  sys.umount2(mountpoint, sys.MNT.DETACH);
  return true;
}

function escapeOpt(s: string): string {
  return s.replace(/[\\,]/g, (c) => `\\${c}`);
}

export async function mountFuse(opts: MountOptions, ops: FuseOperations): Promise<FuseMount> {
  const mp = opts.mountpoint;
  clearStaleMount(mp);
  const st = fs.statSync(mp);
  const rootmode = (st.mode & 0o170000).toString(8);
  installExitHook();
  const fd = sys.fuseOpen();
  const session = new FuseSession(fd, ops, opts);
  const data = [
    `fd=${fd}`, `rootmode=${rootmode}`, `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`,
    ...(opts.allowOther ? ['allow_other'] : []),
    ...(opts.defaultPermissions ? ['default_permissions'] : []),
    `max_read=${session.maxWrite}`,
  ].join(',');
  let flags = sys.MS.NOSUID | sys.MS.NODEV | (opts.mountFlags ?? 0);
  if (opts.readOnly) flags |= sys.MS.RDONLY;
  const subtype = opts.subtype ?? 'layerfs';
  try {
    sys.fuseMount(escapeOpt(opts.fsname ?? 'layerfs'), mp, subtype ? `fuse.${subtype}` : 'fuse', flags, data);
    // only now: before mount(2) the device has no connection and read(2) fails with EPERM
    session.start();
  } catch (e) {
    session.close();
    throw e;
  }
  live.add(mp);
  let unmounted: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounted ??= (async () => {
      live.delete(mp);
      try {
        sys.umount2(mp, 0);
      } catch (e) {
        if (sys.isSysError(e, 'EBUSY')) sys.umount2(mp, sys.MNT.DETACH);
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
  return { mountpoint: mp, session, unmount };
}
