/**
 * A mount must never wait on itself. The server reaches its layers by path and by descriptor; if
 * its own mount sat in a layer, over a layer, or under a layer's path, some system call of the
 * server would land on that mount and wait for an answer only the (waiting) server could give:
 * an unkillable hang. The kernel's overlayfs serves such stacks (it reaches its layers through
 * private clones of their mounts, which hold no later mounts); layerfs refuses them before mounting,
 * with one line that names the mountpoint and the layer (docs/cli.md, "A mount never waits on
 * itself"). Compared are real paths and device/inode pairs (bind mounts of a layer too), of the
 * mountpoint and each layer and all their ancestors.
 *
 * Also here: the devices of the mounts this thread serves, and the wait for the previous user of an
 * upper and work directory that was unmounted a moment ago and is still closing them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../engine';
import { workLockHolder } from '../engine/work-lock';
import * as sys from '../sys';

interface Id {
  dev: number;
  ino: number;
}

/** Device and inode of `p` (not following a last symlink: the paths here are real), or null. */
function idOf(p: string, memo: Map<string, Id | null>): Id | null {
  let id = memo.get(p);
  if (id === undefined) {
    try {
      const st = sys.statx(sys.AT.FDCWD, p);
      id = { dev: st.dev, ino: st.ino };
    } catch {
      id = null; // unreadable, or a dead mount (ENOTCONN): compared by path only
    }
    memo.set(p, id);
  }
  return id;
}

/** The real path of a mountpoint; a dead FUSE mount there (ENOTCONN) is resolved through its parent. */
export function realMountpoint(mountpoint: string): string {
  try {
    return fs.realpathSync.native(mountpoint);
  } catch {
    const abs = path.resolve(mountpoint);
    try {
      return path.join(fs.realpathSync.native(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

/** `real` and each of its ancestors up to /, each with its device and inode. */
function chain(real: string, memo: Map<string, Id | null>): { path: string; id: Id | null }[] {
  const out: { path: string; id: Id | null }[] = [];
  for (let p = real; ; p = path.dirname(p)) {
    out.push({ path: p, id: idOf(p, memo) });
    if (p === path.dirname(p)) return out;
  }
}

const same = (a: Id | null, b: Id | null) => a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;

/** Every directory a mount reads or writes, by option name: lower[i], upper, work. */
export function layersOf(o: { lower?: unknown; upper?: unknown; work?: unknown }): { option: string; given: string }[] {
  const out: { option: string; given: string }[] = [];
  if (Array.isArray(o.lower)) o.lower.forEach((l, i) => typeof l === 'string' && out.push({ option: `lower[${i}]`, given: l }));
  if (typeof o.upper === 'string') out.push({ option: 'upper', given: o.upper });
  if (typeof o.work === 'string') out.push({ option: 'work', given: o.work });
  return out;
}

/**
 * Throws a ConfigError when mounting `layers` on `mountpoint` would make the server wait on itself:
 * the mountpoint is a layer or lies inside one (EINVAL), a layer lies below the mountpoint (EINVAL),
 * or a layer is on a mount this process serves (`servedDevs`, EDEADLK). Missing layers are left to
 * the option checks.
 */
export function checkSelfReference(layers: { option: string; given: string }[], mountpoint: string, servedDevs: Iterable<number>): void {
  const served = new Set(servedDevs);
  const memo = new Map<string, Id | null>(); // ancestors shared by the paths are looked at once
  const mpReal = realMountpoint(mountpoint);
  const mpChain = chain(mpReal, memo);
  const mpId = mpChain[0].id;
  const mpName = path.resolve(mountpoint) === mpReal ? mountpoint : `${mountpoint} (${mpReal})`;
  const why = 'the server would wait on its own mount';
  for (const layer of layers) {
    let real: string;
    let id: Id | null;
    try {
      real = fs.realpathSync.native(layer.given);
      id = idOf(real, memo);
    } catch {
      continue;
    }
    const name = path.resolve(layer.given) === real ? `${layer.option} ${layer.given}` : `${layer.option} ${layer.given} (${real})`;
    if (id !== null && served.has(id.dev)) {
      throw new ConfigError('EDEADLK', layer.option, `${name} is on a mount this process serves: ${why} (mount it from another process)`, layer.given);
    }
    if (real === mpReal || same(id, mpId)) {
      throw new ConfigError('EINVAL', 'mountpoint', `mountpoint ${mpName} is ${name}: ${why} (the mountpoint must lie outside every layer)`, mountpoint);
    }
    if (mpChain.some((a) => a.path === real || same(a.id, id))) {
      throw new ConfigError('EINVAL', 'mountpoint', `mountpoint ${mpName} is inside ${name}: ${why} (the mountpoint must lie outside every layer)`, mountpoint);
    }
    if (chain(real, memo).some((a) => a.path === mpReal || same(a.id, mpId))) {
      throw new ConfigError('EINVAL', 'mountpoint', `mountpoint ${mpName} would cover ${name}: ${why} (the mountpoint must lie outside every layer)`, mountpoint);
    }
  }
}

/** The device (st_dev) of the newest mount on `mountpoint` (a real path), from mountinfo; no stat. */
export function deviceOfMountpoint(mountpoint: string): number | null {
  let dev: number | null = null;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== mountpoint) continue;
    const [major, minor] = f[2].split(':').map(Number);
    dev = sys.makedev(major, minor);
  }
  return dev;
}

/** The devices of the mounts this thread serves (lib/mount/server.ts adds and removes them). */
export const servedHere = new Set<number>();

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/**
 * If the upper and work directories are held by a mount that is gone from the mount table (it was
 * unmounted a moment ago and is closing its layers, or was detached lazily and still serves open
 * files), waits up to `ms` for it to let go. A holder still mounted, or one that is not a mount,
 * is not waited for: the open refuses at once and names it.
 */
export async function waitForPreviousUser(upper: string | undefined, work: string | undefined, ms = 15_000): Promise<void> {
  if (upper === undefined || work === undefined) return;
  let u: string, w: string;
  try {
    u = fs.realpathSync.native(upper);
    w = fs.realpathSync.native(work);
  } catch {
    return; // the open says what is wrong with them
  }
  const deadline = Date.now() + ms;
  for (let wait = 5; ; wait = Math.min(wait * 2, 50)) {
    const holder = workLockHolder(u, w);
    if (holder === null || holder.mountpoint === undefined || Date.now() >= deadline) return;
    if (deviceOfMountpoint(holder.mountpoint) !== null) return;
    await sleep(wait);
  }
}
