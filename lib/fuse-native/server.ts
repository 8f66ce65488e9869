/**
 * Serves a layer stack through fuse-native (libfuse 2's high-level API) from this process. It runs
 * in a child process of the mounting one (child.ts): fuse-native dispatches to the process's main
 * event loop (uv_default_loop), so it cannot live in a worker thread, and a crash in it takes only
 * the child down.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, Overlay } from '../engine';
import { IdMap } from '../mount/idmap';
import { checkMountpoint, overlayOptionsOf } from '../mount/server';
import { checkSelfReference, deviceOfMountpoint, layersOf, servedHere, waitForPreviousUser } from '../mount/guard';
import type { MountOptions, Server } from '../mount/server';
import * as sys from '../sys';
import { loadFuseNative, NativeFuse } from './load';
import { NativeOps } from './ops';

/** libfuse 2's largest write (its buffer is a page plus 128 KiB). */
const MAX_WRITE = 131072;

/**
 * The mount options this transport cannot honour, refused with a precise message (called by
 * mount() before any process starts, and again here).
 */
export function checkNativeOptions(o: MountOptions): void {
  const refuse = (option: string, why: string) => {
    throw new ConfigError('EINVAL', option, `${option}: ${why} (transport fuse-native: libfuse 2's high-level API)`);
  };
  if (o.passthrough === true) refuse('passthrough', 'kernel passthrough needs transport fuse');
  if (o.opens === 'kernel') refuse('opens', "libfuse 2 cannot let the kernel open files (opens: 'kernel' needs transport fuse)");
  if (o.posixAcl === true) refuse('posixAcl', 'libfuse 2 cannot negotiate POSIX ACLs');
  if (o.writeback === true) refuse('writeback', 'libfuse 2 has no writeback cache');
  if (o.xattrPermissions === 1 || o.xattrPermissions === 2) refuse('xattrPermissions', 'needs the caller\'s uid and gid, which fuse-native does not pass');
}

/** A live fuse-native mount served from this process (the primary transport's Server interface). */
export type NativeServer = Server;

/** Whether `mountpoint` is in this process' mount table (mountinfo's field 5, octal escapes undone). */
function isMounted(mountpoint: string): boolean {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => unescape(l.split(' ')[4] ?? '') === mountpoint);
}

/**
 * Resolves when the mount is gone (unmounted by us, by umount(8) or `layerfs umount`): libfuse 2
 * tells fuse-native's JavaScript nothing, so the mount table is read twice a second.
 */
function watchEnd(mountpoint: string, stopped: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (!isMounted(mountpoint)) finish();
    }, 500);
    const finish = () => {
      clearInterval(timer);
      resolve();
    };
    void stopped.then(finish);
  });
}

function unmountNow(mountpoint: string): void {
  if (!isMounted(mountpoint)) return; // unmounted from outside already
  if (process.getuid?.() === 0) {
    try {
      sys.umount2(mountpoint, 0);
    } catch {
      sys.umount2(mountpoint, sys.MNT.DETACH); // busy: detached, gone once the last user leaves
    }
  } else {
    sys.fusermountUnmount(mountpoint, true);
  }
}

/** Resolves once `mountpoint` is a different filesystem from its parent, i.e. the mount answers. */
async function answering(mountpoint: string, timeoutMs = 15000): Promise<void> {
  const parent = await fs.promises.stat(path.dirname(mountpoint));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // async: the INIT and GETATTR this causes are answered by this thread meanwhile
      const st = await fs.promises.stat(mountpoint);
      if (st.dev !== parent.dev) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTCONN') throw err;
    }
    if (Date.now() > deadline) throw new ConfigError('ETIMEDOUT', 'mountpoint', `mountpoint ${mountpoint}: the fuse-native mount did not answer`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function startNativeServer(options: MountOptions): Promise<NativeServer> {
  checkNativeOptions(options);
  const mountpoint = path.resolve(checkMountpoint(options.mountpoint));
  // As the primary transport: no mount that would wait on itself, and the last user of this upper
  // and work let go (lib/mount/guard.ts).
  checkSelfReference(layersOf(options), mountpoint, servedHere);
  await waitForPreviousUser(options.upper, options.work);
  const realMp = fs.realpathSync(mountpoint); // before mounting: afterwards it would ask this server
  const root = process.getuid?.() === 0;
  const overlayOptions = overlayOptionsOf(options);
  if (!root && overlayOptions.userxattr === undefined) {
    overlayOptions.userxattr = true; // as the primary transport: trusted.* needs CAP_SYS_ADMIN
    if (overlayOptions.metacopy === undefined) overlayOptions.metacopy = false;
  }
  const native = loadFuseNative(unmountNow);
  const { Fuse } = native;
  options.debug?.(`fuse-native ${native.version}, ${native.patched ? 'patched build (scripts/build-fuse-native.js)' : 'stock build: mtime, create flags and callers unknown (docs/transports.md)'}`);
  sys.setErrorStacks(false);
  overlayOptions.mountpoint = realMp; // named to a second user of the upper and work, who is refused
  const overlay = Overlay.open(overlayOptions);
  const log = options.log ?? ((l: string) => console.error(l));
  const ops = new NativeOps(overlay, {
    uids: new IdMap(options.uidmap, options.squashUid),
    gids: new IdMap(options.gidmap, options.squashGid),
    log,
    caller: native.caller,
  });
  const readOnly = options.readOnly === true || overlay.readOnly;
  const extraOptions = [
    'use_ino', // our inode numbers, as the primary transport shows them
    'big_writes', `max_write=${MAX_WRITE}`, `max_read=${MAX_WRITE}`,
    // Names: every change comes through this mount, which drops what the kernel cached of them.
    // Attributes are asked for every time: libfuse 2 gives each name of a hard-linked file a
    // kernel inode of its own, and a write through one must show in the size of the others.
    'entry_timeout=1', 'attr_timeout=0', 'negative_timeout=1',
    ...(readOnly ? ['ro'] : []),
  ];
  const fuse: NativeFuse = new Fuse(mountpoint, ops.handlers(), {
    force: true, // a dead mount left on the mountpoint is cleared first
    timeout: false, // its default answers ETIMEDOUT after 15 s while the work goes on (a long copy-up)
    defaultPermissions: true,
    allowOther: options.allowOther ?? root,
    // no kernel_cache: the page cache is dropped at each open (the other names of a hard link
    // would keep stale pages otherwise, each being a kernel inode of its own)
    fsname: (options.fsname ?? 'layerfs').replace(/[,\\]/g, '_'),
    subtype: 'layerfs',
    debug: options.debug !== undefined,
    extraOptions,
  });
  try {
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
    await answering(mountpoint);
  } catch (err) {
    try {
      unmountNow(mountpoint);
    } catch {
      /* not mounted */
    }
    overlay.close();
    const e = err as Error & { code?: string };
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(e.code ?? 'EIO', 'mountpoint', `fuse-native could not mount ${mountpoint}: ${e.message}`, mountpoint);
  }
  let done: Promise<void> | null = null;
  let stopped: () => void = () => undefined;
  const ended = watchEnd(mountpoint, new Promise<void>((r) => (stopped = r)));
  const dev = deviceOfMountpoint(realMp);
  if (dev !== null) {
    servedHere.add(dev); // a later mount of this thread must not take a layer on it
    void ended.then(() => servedHere.delete(dev));
  }
  return {
    mountpoint,
    overlay,
    dev,
    ended,
    requestsReceived: () => [...ops.requests.values()].reduce((a, b) => a + b, 0),
    stats: () => ({
      requests: Object.fromEntries(ops.requests),
      latency: ops.latencySnapshot(),
      engine: { ...overlay.stats },
      nodes: 0, // libfuse 2 keeps the node table itself
      passthrough: false,
      opens: 'server',
    }),
    unmount: () => {
      done ??= (async () => {
        try {
          // (already gone, unmounted from outside: the binding's own bookkeeping only)
          await new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve())));
        } finally {
          stopped();
          ops.closeAll();
          try {
            await overlay.sync();
          } finally {
            overlay.close();
          }
        }
      })();
      return done;
    },
  };
}
