import * as fs from 'node:fs';
import * as sys from '../sys';
import { librarySpecs } from '../options';
import { ConfigError, Overlay, OverlayOptions } from '../engine';
import { FuseMount, mountFuse } from '../fuse';
import type { OpLatency } from '../fuse';
import { OverlayFuseOps } from './adapter';
import { IdMap, IdRange } from './idmap';
import { negotiatedOf } from './negotiated';
import { StatOverride, overrideXattrFor } from './override-stat';
import { checkSelfReference, deviceOfMountpoint, layersOf, realMountpoint, servedHere, waitForPreviousUser } from './guard';

/** Everything `mount()` and the CLI accept. */
export interface MountOptions extends OverlayOptions {
  /** Where the merged tree appears. */
  mountpoint: string;
  /**
   * How the mount talks to the kernel: 'fuse' (default: our own /dev/fuse session, kernel
   * passthrough) or 'fuse-native' (the optional fuse-native package over libfuse 2, served from a
   * child process; what it cannot do is in docs/transports.md).
   */
  transport?: 'fuse' | 'fuse-native';
  /** Kernel passthrough of open files (needs root and Linux >= 6.9): 'auto' (default), true, false. */
  passthrough?: boolean | 'auto';
  /**
   * Who opens files: 'server' (every open(2) and close(2) is a round trip to the server, which
   * can hand the file to the kernel for passthrough) or 'kernel' (FUSE's no_open: opens and closes
   * cost no round trip and the page cache lasts across opens; reads and writes are served).
   * Default 'auto': 'server' when the kernel grants passthrough (root, Linux >= 6.9: reads and
   * writes at the layer filesystem's speed, open(2) for writing copies up as on overlayfs), else
   * 'kernel'.
   */
  opens?: 'kernel' | 'server' | 'auto';
  /** Let users other than the mounter in (default: true when root, as containers need). */
  allowOther?: boolean;
  /**
   * POSIX ACLs (FUSE_POSIX_ACL): the kernel enforces them and new objects inherit default ACLs as on
   * overlayfs. 'auto' (default): when the upper layer (or, read-only, the top layer) supports them.
   */
  posixAcl?: boolean | 'auto';
  /**
   * The kernel's writeback cache for served (non-passthrough) files: writes gather in the page
   * cache and come in large WRITEs. Default 'unless-passthrough'; false turns it off.
   */
  writeback?: boolean | 'unless-passthrough';
  /** Mount read-only even with an upper layer. */
  readOnly?: boolean;
  /** Name in /proc/mounts (default 'layerfs'). */
  fsname?: string;
  /** Log every FUSE request and reply to this function. */
  debug?: (line: string) => void;
  /** Warnings and errors of the server (default: console.error). */
  log?: (line: string) => void;
  /** Ownership translation (container:host:length ranges), as fuse-overlayfs' uidmapping=/gidmapping=. */
  uidmap?: IdRange[];
  gidmap?: IdRange[];
  /** Show every object as owned by this uid / gid. */
  squashUid?: number;
  squashGid?: number;
  /**
   * Ownership and permissions kept in an xattr instead of the inode: 2 in `user.containers.override_stat`
   * (containers/storage force_mask), 1 in `security.fuseoverlayfs.override_stat` (as fuse-overlayfs).
   */
  xattrPermissions?: 0 | 1 | 2;
  /**
   * Once the mount answers, run a short scripted workload through the server's code on a throwaway
   * engine (lib/mount/warm-up.ts), so the first real work finds it compiled, in short slices of
   * the mount's idle time. mount() default: false; the layerfs command does it (LAYERFS_WARM_UP=0: not).
   */
  warmUp?: boolean;
}

export interface ServerStats {
  requests: Record<string, number>;
  /** Time per request by operation (read to reply written), the commonest first. */
  latency: Record<string, OpLatency>;
  engine: Overlay['stats'];
  nodes: number;
  passthrough: boolean;
  /** Who opens files: the kernel (no OPEN requests) or the server (MountOptions.opens). */
  opens: 'kernel' | 'server';
}

/** A live mount served in this thread. */
export interface Server {
  readonly mountpoint: string;
  /** The mount's device (st_dev of the files in it), from mountinfo; null if it could not be found. */
  readonly dev: number | null;
  readonly overlay: Overlay;
  stats(): ServerStats;
  /** Requests received so far: a number that moves while the mount is in use. */
  requestsReceived(): number;
  unmount(): Promise<void>;
  /** Resolves when the mount went away (unmounted by us or by umount(8) / fusermount3 -u). */
  readonly ended: Promise<void>;
}

/** The engine's options (lib/options.ts); the mountpoint the engine records is set by startServer. */
const OVERLAY_KEYS = [...librarySpecs('engine').keys()].filter((k) => !k.includes('.') && k !== 'mountpoint');

/** The part of `o` the engine takes. */
export function overlayOptionsOf(o: MountOptions): OverlayOptions {
  const out: Record<string, unknown> = {};
  for (const k of OVERLAY_KEYS) if ((o as unknown as Record<string, unknown>)[k] !== undefined) out[k] = (o as unknown as Record<string, unknown>)[k];
  return out as unknown as OverlayOptions;
}

export function checkMountpoint(mountpoint: unknown): string {
  if (typeof mountpoint !== 'string' || mountpoint === '') throw new ConfigError('EINVAL', 'mountpoint', 'mountpoint must be a non-empty path');
  let st: fs.Stats;
  try {
    st = fs.statSync(mountpoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOTCONN') return mountpoint; // a dead FUSE mount: cleared when mounting
    throw new ConfigError(code, 'mountpoint', `mountpoint ${mountpoint}: ${code === 'ENOENT' ? 'does not exist' : code}`, mountpoint);
  }
  if (!st.isDirectory()) throw new ConfigError('ENOTDIR', 'mountpoint', `mountpoint ${mountpoint}: not a directory`, mountpoint);
  return mountpoint;
}

/**
 * Who opens files (MountOptions.opens): 'auto' resolves to the server when passthrough is asked
 * for, to the kernel when it is refused, and otherwise to the server if the kernel grants
 * passthrough at INIT (reads and writes at the layer filesystem's speed), else to the kernel.
 */
export function opensMode(options: Pick<MountOptions, 'opens' | 'passthrough'>): 'kernel' | 'server' | 'unless-passthrough' {
  const opens = options.opens ?? 'auto';
  if (opens === 'kernel' && options.passthrough === true) {
    throw new ConfigError('EINVAL', 'opens', 'passthrough needs opens=server (the kernel sets it up in the server\'s answer to each open)');
  }
  if (opens !== 'auto') return opens;
  if (options.passthrough === true) return 'server';
  return options.passthrough === false ? 'kernel' : 'unless-passthrough';
}

/**
 * Opens the stack and serves it on `mountpoint` from this thread; resolves once the mount answers.
 * `servedDevs`: the devices of the mounts other threads of this process serve (lib/mount/mount.ts).
 */
export async function startServer(options: MountOptions, servedDevs: number[] = []): Promise<Server> {
  const mountpoint = checkMountpoint(options.mountpoint);
  // Refused before anything is opened: a mount that would wait on itself (lib/mount/guard.ts).
  checkSelfReference(layersOf(options), mountpoint, [...servedHere, ...servedDevs]);
  // The last user of this upper and work may have been unmounted a moment ago and still be closing.
  await waitForPreviousUser(options.upper, options.work);
  const realMp = realMountpoint(mountpoint);
  const root = process.getuid?.() === 0;
  const overlayOptions = overlayOptionsOf(options);
  if (!root && overlayOptions.userxattr === undefined) {
    // trusted.* xattrs need CAP_SYS_ADMIN: an unprivileged overlay keeps its markers in user.overlay.*
    // (as the kernel's unprivileged overlay with -o userxattr)
    overlayOptions.userxattr = true;
    options.debug?.('not root: userxattr on (overlay markers in user.overlay.*)');
    if (overlayOptions.metacopy === undefined) {
      // the kernel refuses metacopy with userxattr: keep the upper readable by its unprivileged overlay
      overlayOptions.metacopy = false;
      options.debug?.('not root: metacopy off (the kernel does not allow it with userxattr)');
    }
  }
  const opens = opensMode(options);
  const wantPassthrough = opens === 'kernel' ? false : options.passthrough ?? 'auto';
  if (wantPassthrough === true && !root) {
    throw new ConfigError('EPERM', 'passthrough', 'passthrough needs root (CAP_SYS_ADMIN)');
  }
  if (!root) {
    const served = opens === 'server' ? 'the server opens files and serves their I/O' : 'the kernel opens files, their I/O is served';
    options.debug?.(`not root: mounting through fusermount3; passthrough off (needs CAP_SYS_ADMIN): ${served}`);
  }
  // errno errors are this thread's answers, not bugs: no stack traces for them (sys.setErrorStacks)
  sys.setErrorStacks(false);
  overlayOptions.mountpoint = realMp; // named to a second user of the upper and work, who is refused
  const overlay = Overlay.open(overlayOptions);
  const ops = new OverlayFuseOps(
    overlay, undefined, new IdMap(options.uidmap, options.squashUid), new IdMap(options.gidmap, options.squashGid),
    options.xattrPermissions === 1 || options.xattrPermissions === 2 ? new StatOverride(overrideXattrFor(options.xattrPermissions)) : null,
  );
  let fm: FuseMount;
  try {
    fm = await mountFuse(
      {
        mountpoint,
        fsname: options.fsname ?? 'layerfs',
        subtype: 'layerfs',
        allowOther: options.allowOther ?? root,
        defaultPermissions: true,
        readOnly: options.readOnly === true || overlay.readOnly,
        passthrough: wantPassthrough !== false && root,
        noOpen: opens === 'kernel' ? true : opens === 'server' ? false : 'unless-passthrough',
        // One reused request buffer: decoding is synchronous and copies out the payloads it keeps.
        readerMode: 'view',
        // Served reads and writes go through the page cache: every change comes through this mount,
        // so the kernel's cached data stays right. Under kernel opens the writeback cache is off by
        // default: it costs a SETATTR (the times it kept) after every file written, and dpkg -i
        // ran slower with it (docs/benchmarks.md, Design figures). ('auto' opens: passthrough,
        // which takes no writeback cache, or kernel opens.)
        writeback: options.writeback ?? (opens === 'server' ? 'unless-passthrough' : false),
        posixAcl: options.posixAcl === 'auto' || options.posixAcl === undefined ? overlay.supportsPosixAcl() : options.posixAcl,
        debug: options.debug,
        log: options.log,
      },
      ops,
    );
  } catch (err) {
    overlay.close();
    throw err;
  }
  const session = fm.session;
  const init = negotiatedOf(session);
  ops.negotiated(init);
  const dev = deviceOfMountpoint(realMp);
  if (dev !== null) {
    servedHere.add(dev);
    void session.ended.then(() => servedHere.delete(dev));
  }
  let done: Promise<void> | null = null;
  return {
    mountpoint,
    dev,
    overlay,
    ended: session.ended,
    requestsReceived: () => session.received,
    stats: () => ({
      requests: Object.fromEntries(session.stats),
      latency: session.latency.snapshot(),
      engine: { ...overlay.stats },
      nodes: ops.nodes.size,
      passthrough: init.passthrough !== null,
      opens: init.kernelOpens ? 'kernel' : 'server',
    }),
    unmount: () => {
      done ??= (async () => {
        try {
          await fm.unmount();
        } finally {
          ops.closeAll();
          try {
            await overlay.sync(); // all data on disk before we say unmounted (a no-op when volatile)
          } finally {
            overlay.close();
          }
        }
      })();
      return done;
    },
  };
}
