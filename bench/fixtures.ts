import * as fs from 'node:fs';
import * as path from 'node:path';
import { LayerSpec, makeLayerSet, removeTree, tempDir } from '../test/helpers/layers';
import { KernelMount, mountKernelOverlay } from '../test/helpers/kernel-overlay';

/** Directories this process created; removed at exit if a workload forgot (after kernel-overlay's unmount hook). */
const live = new Set<string>();
process.on('exit', () => {
  for (const dir of [...live]) safeRemove(dir);
});

function isMountedUnder(dir: string): boolean {
  try {
    const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    return lines.some((l) => {
      const mp = l.split(' ')[4];
      return mp !== undefined && (mp === dir || mp.startsWith(dir + '/'));
    });
  } catch {
    return false;
  }
}

/** Removes a fixture tree, but never descends into a mount that is still live. */
function safeRemove(dir: string): void {
  live.delete(dir);
  if (isMountedUnder(dir)) {
    process.stderr.write(`bench: not removing ${dir}: a mount below it is still live\n`);
    return;
  }
  try {
    removeTree(dir);
  } catch (err) {
    process.stderr.write(`bench: could not remove ${dir}: ${(err as Error).message}\n`);
  }
}

function track(dir: string): string {
  live.add(dir);
  return dir;
}

/** Mounts kernel overlayfs read-only over `lower` (top first) at `mountpoint`. */
export function mountLower(lower: string[], mountpoint: string): KernelMount {
  return mountKernelOverlay({ lower, mountpoint });
}

/** Whether `mount -t overlay` works here (root, overlay module); the reason when not. */
export function kernelOverlayAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  const base = track(tempDir('layerfs-bench-probe-'));
  try {
    // (Without an upper the kernel wants at least two lower layers.)
    const set = makeLayerSet([{ f: { type: 'file', content: 'x' } }, {}], undefined, path.join(base, 'layers'));
    const m = mountLower(set.lower, path.join(base, 'mnt'));
    try {
      fs.lstatSync(path.join(m.mountpoint, 'f'));
    } finally {
      m.unmount();
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0] };
  } finally {
    safeRemove(base);
  }
}

export interface LookupFixture {
  /** All layers, top first; the target lives only in the last (bottom) one. */
  layers: string[];
  /** The merged path looked up. */
  target: string;
  namesPerLayer: number;
  /** The bottom `n` layers (top first), so the target is always in the bottom one. */
  lowerFor(n: number): string[];
  /**
   * The same for a kernel mount: a read-only kernel overlay needs two lower layers, so for n = 1 an
   * empty layer is put on top.
   */
  kernelLowerFor(n: number): string[];
  /** A fresh, empty mount point directory. */
  mountpoint(): string;
  remove(): void;
}

/**
 * `layerCount` layers l0 (top) .. l{n-1} (bottom). Each holds /d with `namesPerLayer` names: half of
 * them in every layer (shared, as in image layers that touch the same files), half its own; the root
 * holds d plus one own file. Only the bottom layer has /d/target. Files are written with open/close
 * rather than writeLayer (150k files: times and content do not matter here, speed of setup does).
 */
export function buildLookupFixture(layerCount: number, namesPerLayer: number): LookupFixture {
  const base = track(tempDir('layerfs-bench-lookup-'));
  const mnts = track(tempDir('layerfs-bench-mnt-'));
  const layers: string[] = [];
  const shared = Math.floor(namesPerLayer / 2);
  for (let k = 0; k < layerCount; k++) {
    const root = path.join(base, `l${k}`);
    const d = path.join(root, 'd');
    fs.mkdirSync(d, { recursive: true });
    fs.closeSync(fs.openSync(path.join(root, `layer${k}`), 'w'));
    for (let i = 0; i < namesPerLayer; i++) {
      const name = i < shared ? `common${String(i).padStart(4, '0')}` : `l${k}_${String(i).padStart(4, '0')}`;
      fs.closeSync(fs.openSync(path.join(d, name), 'w'));
    }
    layers.push(root);
  }
  fs.writeFileSync(path.join(layers[layerCount - 1], 'd', 'target'), 'found me');
  const empty = path.join(base, 'empty');
  fs.mkdirSync(empty);
  return {
    layers,
    target: '/d/target',
    namesPerLayer,
    lowerFor: (n) => layers.slice(layerCount - n),
    kernelLowerFor: (n) => (n === 1 ? [empty, ...layers.slice(layerCount - 1)] : layers.slice(layerCount - n)),
    mountpoint: mountpoints(mnts),
    remove: () => {
      safeRemove(mnts);
      safeRemove(base);
    },
  };
}

export interface ReaddirFixture {
  lower: string[];
  /** The merged directory listed. */
  dir: string;
  /** Names the merged directory must show. */
  visible: number;
  mountpoint(): string;
  remove(): void;
}

const nm = (i: number) => `n${String(i).padStart(5, '0')}`;

/**
 * A directory of `visible` merged entries spread over 3 layers (built with makeLayerSet/writeLayer,
 * kernel whiteout form), scaled from the 10k layout:
 *   bottom: n0..n5999 (every 50th a directory, every 97th a symlink)
 *   middle: n4000..n7999, whiteouts for n0..n499
 *   top:    n7000..n11499, whiteouts for n2000..n2499 and n5000..n5499
 * so 2,000 + 1,000 names sit in two layers and 1,500 are whited out: 10,000 visible.
 */
export function buildReaddirFixture(scale = 1): ReaddirFixture {
  const s = (i: number) => Math.round(i * scale);
  const bottom: LayerSpec = {}, middle: LayerSpec = {}, top: LayerSpec = {};
  for (let i = 0; i < s(6000); i++) {
    bottom[`big/${nm(i)}`] = i % 50 === 0 ? { type: 'dir' } : i % 97 === 0 ? { type: 'symlink', target: 'elsewhere' } : { type: 'file', content: 'b' };
  }
  for (let i = s(4000); i < s(8000); i++) middle[`big/${nm(i)}`] = { type: 'file', content: 'm' };
  for (let i = 0; i < s(500); i++) middle[`big/${nm(i)}`] = { type: 'whiteout' };
  for (let i = s(7000); i < s(11500); i++) top[`big/${nm(i)}`] = { type: 'file', content: 't' };
  for (let i = s(2000); i < s(2500); i++) top[`big/${nm(i)}`] = { type: 'whiteout' };
  for (let i = s(5000); i < s(5500); i++) top[`big/${nm(i)}`] = { type: 'whiteout' };
  const base = track(tempDir('layerfs-bench-readdir-'));
  const mnts = track(tempDir('layerfs-bench-mnt-'));
  const set = makeLayerSet([top, middle, bottom], undefined, base);
  return {
    lower: set.lower,
    dir: '/big',
    visible: s(11500) - 3 * s(500),
    mountpoint: mountpoints(mnts),
    remove: () => {
      safeRemove(mnts);
      safeRemove(base);
    },
  };
}

/** Fresh mount point directories m0, m1, ... under `dir`. */
function mountpoints(dir: string): () => string {
  let seq = 0;
  return () => {
    const p = path.join(dir, `m${seq++}`);
    fs.mkdirSync(p);
    return p;
  };
}

export interface TreeLower {
  /** The one lower layer. */
  layer: string;
  /** Directories under /tree, in walk order, each holding `perDir` files. */
  dirs: string[];
  perDir: number;
  /** Directories under /ren (a few files each), for rename workloads. */
  renameDirs: string[];
}

/** Where generated lowers are kept between runs (LAYERFS_BENCH_CACHE overrides: tests use a temp dir). */
export function benchCache(): string {
  return process.env.LAYERFS_BENCH_CACHE ?? '/var/tmp/layerfs-bench';
}

/** Whether process `pid` is alive (EPERM: alive, not ours). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes entries of `dir` named `<prefix><PID>-...` or `<prefix><PID>` whose process is dead (a run
 * that was killed): never another live run's, never one with a mount below it.
 */
export function removeStale(dir: string, prefix: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)/.exec(name.slice(prefix.length))?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) safeRemove(path.join(dir, name));
  }
}

/**
 * A lower layer of `files` empty files in /tree/dNNNN (`perDir` each) and `renameDirs` directories
 * /ren/rNNN of 4 files each. Generated once into benchCache() and reused: built under a name of
 * this process and renamed into place when complete, so an interrupted or concurrent generation
 * never leaves a partial lower where another run would take it.
 */
export function cachedTreeLower(files: number, perDir: number, renameDirs: number, log: (msg: string) => void = () => undefined): TreeLower {
  const name = `tree-v1-${files}-${perDir}-${renameDirs}`;
  const dir = path.join(benchCache(), name);
  const layer = path.join(dir, 'layer');
  const pad = (i: number, w: number) => String(i).padStart(w, '0');
  const dirs = Array.from({ length: Math.ceil(files / perDir) }, (_, i) => `/tree/d${pad(i, 4)}`);
  const ren = Array.from({ length: renameDirs }, (_, i) => `/ren/r${pad(i, 3)}`);
  if (!fs.existsSync(dir)) {
    removeStale(benchCache(), `${name}.new-`);
    const tmp = path.join(benchCache(), `${name}.new-${process.pid}`);
    const tmpLayer = path.join(tmp, 'layer');
    log(`generating a lower of ${files} files in ${layer} (once; kept for later runs)`);
    removeTree(tmp);
    fs.mkdirSync(tmpLayer, { recursive: true });
    let left = files;
    for (const d of dirs) {
      fs.mkdirSync(path.join(tmpLayer, d), { recursive: true });
      for (let i = 0; i < perDir && left > 0; i++, left--) fs.closeSync(fs.openSync(path.join(tmpLayer, d, `f${pad(i, 5)}`), 'w'));
    }
    for (const d of ren) {
      fs.mkdirSync(path.join(tmpLayer, d), { recursive: true });
      for (const f of ['a', 'b', 'c', 'd']) fs.writeFileSync(path.join(tmpLayer, d, f), f);
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      removeTree(tmp);
      // Another run put its copy in place first: use that one.
      if (!fs.existsSync(layer)) throw err;
    }
  }
  return { layer, dirs, perDir, renameDirs: ren };
}
