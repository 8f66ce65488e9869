/**
 * One `layerfs bench` run: every selected workload on every implementation that can run here, on
 * the same layers, round by round with the order of the implementations rotated each round, each
 * sample on a fresh upper and a fresh mount. Cold samples drop the lower files' pages first; cached
 * ones keep the lower data locked in memory (mlock) while they run. Every sample counts the
 * machine's page-cache drops; a disturbed sample of a workload that a drop spoils is taken again
 * (the disturbed one stays in the CSV, marked, and out of the medians).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baselineOf, chooseImpls } from './impls';
import { imageLayerSet } from './image';
import { buildDataSet, buildDeepSet, buildTarball, buildTreeSet } from './layers';
import { probeKernelOverlay, probeMount, withMount } from './mounts';
import { podmanStores } from './podman';
import { Progress } from './progress';
import { dropCount, dropFileCache, dropMachineCaches, filesystemOf, hasCommand, lockInMemory, MemoryLock, processCpuMs, processPeakRssMiB, removeDir, runDirectory } from './system';
import type { BenchOptions, BenchResults, ImplSpec, LayerSet, MachineInfo, MountContext, Sample, Sizes, Tools, Workload } from './types';
import { WORKLOADS } from './workloads';

const MiB = 1 << 20;

/** The sizes of the generated data: the full ones times `scale` (--quick: 1/16 unless a scale is given). */
export function sizesFor(scale: number | undefined, quick: boolean): Sizes {
  const s = scale ?? (quick ? 1 / 16 : 1);
  if (!(s > 0 && s <= 4)) throw new Error(`scale ${scale}: expected a number in (0, 4]`);
  /** `n` bytes scaled, whole MiB, at least 1 MiB. */
  const mib = (n: number) => Math.max(1, Math.round((n * s) / MiB)) * MiB;
  return {
    scale: s,
    bigFile: mib(1024 * MiB),
    treeEntries: Math.max(200, Math.round(20000 * s)),
    dirEntries: Math.max(100, Math.round((10000 * s) / 100) * 100),
    deepLayers: 100,
    deepFiles: Math.max(20, Math.round(500 * s)),
    creates: Math.max(50, Math.round(5000 * s)),
    tarBytes: mib(100 * MiB),
    seqWrite: mib(1024 * MiB),
    randReads: Math.max(200, Math.round(20000 * s)),
    fioMs: s < 0.1 ? 200 : quick || s < 0.5 ? 1000 : 5000,
  };
}

export const titleOf = (w: Workload, s: Sizes) => (typeof w.title === 'function' ? w.title(s) : w.title);

export function selectWorkloads(re?: RegExp): Workload[] {
  return WORKLOADS.filter((w) => re === undefined || re.test(w.id));
}

function machineInfo(scratch: string): MachineInfo {
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    layerfs: (require('../../../package.json') as { version: string }).version,
    scratchFs: filesystemOf(scratch),
    root: process.getuid?.() === 0,
  };
}

/** lstat of every path of every layer in every layer: the lower filesystem's lookups, negative ones too, cached before timing. */
function prewarm(set: LayerSet): void {
  const names = new Set<string>();
  for (const layer of set.lower) {
    const visit = (rel: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(layer, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        names.add(r);
        if (e.isDirectory()) visit(r);
      }
    };
    visit('');
  }
  for (const layer of set.lower) {
    for (const n of names) {
      try {
        fs.lstatSync(path.join(layer, n));
      } catch {
        /* the negative lookup is what is warmed */
      }
    }
  }
}

interface RunState {
  dir: string;
  sets: Map<string, LayerSet>;
  releases: (() => Promise<void>)[];
}

const NO_LAYERS: LayerSet = { name: 'none', lower: [], info: {} };

async function layerSet(kind: Workload['layers'], o: BenchOptions, st: RunState, sizes: Sizes): Promise<LayerSet> {
  if (kind === 'none') return NO_LAYERS;
  const have = st.sets.get(kind);
  if (have) return have;
  const dir = path.join(st.dir, 'sets', kind);
  fs.mkdirSync(dir, { recursive: true });
  let set: LayerSet;
  if (kind === 'tree') {
    if (o.image !== undefined) {
      const img = await imageLayerSet(o.image);
      st.releases.push(img.release);
      set = img.set;
    } else if (o.layers !== undefined) {
      set = { name: 'tree', lower: o.layers.map((l) => path.resolve(l)), info: { layers: o.layers.length } };
    } else {
      o.log(`building the tree layers (${sizes.treeEntries} entries)`);
      set = buildTreeSet(dir, sizes);
    }
    set.info.tarball = buildTarball(dir, sizes).tar;
  } else if (kind === 'data') {
    o.log(`building the data layers (${sizes.bigFile / MiB} MiB file, ${sizes.dirEntries}-entry directory)`);
    set = buildDataSet(dir, sizes);
  } else {
    o.log(`building ${sizes.deepLayers} layers`);
    set = buildDeepSet(dir, sizes);
  }
  st.sets.set(kind, set);
  return set;
}

/** The lower files a data workload reads (dropped before cold samples, locked during cached ones). */
function dataFiles(w: Workload, set: LayerSet): string[] {
  if (w.layers !== 'data') return [];
  const big = set.info.big as string;
  return [path.join(set.lower[set.lower.length - 1], big)];
}

/**
 * Refuses to start without room for the layers, the tarball, a copied-up big file, the written
 * file and its untar, with 1 GiB to spare (the scratch filesystem is shared).
 */
export function checkFreeSpace(dir: string, sizes: Sizes): void {
  fs.mkdirSync(dir, { recursive: true });
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  const need = 2 * sizes.bigFile + sizes.seqWrite + 3 * sizes.tarBytes + sizes.treeEntries * 40 * 1024 + 1024 * MiB;
  if (free < need) {
    throw Object.assign(new Error(`${dir} has ${(free / 2 ** 30).toFixed(1)} GiB free; this run needs about ${(need / 2 ** 30).toFixed(1)} GiB (use --scratch DIR or a smaller --scale)`), { code: 'ENOSPC' });
  }
}

function rotate<T>(xs: T[], k: number): T[] {
  return xs.map((_, i) => xs[(i + k) % xs.length]);
}

export async function runBench(o: BenchOptions): Promise<BenchResults> {
  const started = Date.now();
  const sizes = sizesFor(o.scale, o.quick);
  const scratchParent = o.scratch ?? os.tmpdir();
  checkFreeSpace(scratchParent, sizes);
  const st: RunState = { dir: runDirectory(scratchParent), sets: new Map(), releases: [] };
  const stacks = path.join(st.dir, 'stacks');
  fs.mkdirSync(stacks);
  const tools: Tools = { fio: hasCommand('fio'), podman: hasCommand('podman'), python3: hasCommand('python3') };
  const skipped: string[] = [];
  const samples: Sample[] = [];
  const drops0 = dropCount();
  let progress: Progress | null = null;
  try {
    const choice = await chooseImpls({
      extra: o.extraImpls, filter: o.implFilter, kernelProbe: () => probeKernelOverlay(st.dir), mountProbe: (impl) => probeMount(impl, st.dir),
    });
    skipped.push(...choice.skipped);
    const impls = choice.impls;
    if (impls.length === 0) throw new Error('no implementation can run here');
    if (!tools.fio) skipped.push('fio: not installed: random reads use the built-in reader (Node, pread of 4 KiB)');
    if (o.dropCaches && process.getuid?.() !== 0) throw Object.assign(new Error('--drop-caches needs root (it writes /proc/sys/vm/drop_caches)'), { code: 'EPERM' });
    if (!tools.python3) skipped.push('python3: not installed: cold and cached data workloads cannot drop or lock pages and do not run');
    for (const line of skipped) o.log(line);
    const workloads = selectWorkloads(o.workloads).filter((w) => {
      const why = w.unavailable?.(tools, impls) ?? (!tools.python3 && w.layers === 'data' && (w.cold || w.dropSensitive) ? 'needs python3' : null);
      if (why !== null) {
        skipped.push(`${w.id}: not run: ${why}`);
        o.log(`${w.id}: not run: ${why}`);
      }
      return why === null;
    });
    if (workloads.length === 0) throw new Error(`no workload ${o.workloads ? `matches /${o.workloads.source}/` : 'can run'} (have: ${WORKLOADS.map((w) => w.id).join(', ')})`);
    const implsOf = (w: Workload) => impls.filter((i) => w.appliesTo?.(i) ?? true);
    progress = new Progress(o.progress, workloads.reduce((n, w) => n + o.rounds * implsOf(w).length, 0), o.log);
    const bar = progress;
    const withBar: BenchOptions = { ...o, log: (line) => bar.note(line) }; // lines that must not be drawn over
    const failed = new Set<string>();
    const witnesses = new Map<string, { impl: string; json: string }>();
    for (const w of workloads) {
      const set = await layerSet(w.layers, withBar, st, sizes);
      if (w.layers === 'tree' || w.layers === 'deep') prewarm(set);
      const files = dataFiles(w, set);
      let lock: MemoryLock | null = null;
      if (w.dropSensitive && files.length > 0) {
        try {
          lock = await lockInMemory(files);
        } catch (err) {
          // Not root and a small RLIMIT_MEMLOCK, most likely: the cached figures would read the disk.
          const line = `${w.id}: not run: ${(err as Error).message.split('\n')[0]}`;
          skipped.push(line);
          progress.note(line);
          continue;
        }
      }
      try {
        const wImpls = implsOf(w);
        for (let round = 0; round < o.rounds; round++) {
          for (const impl of rotate(wImpls, round)) {
            progress.step(w.id, impl.name, round + 1, o.rounds);
            if (failed.has(`${w.id}\0${impl.name}`)) continue;
            try {
              const got = await sample(w, impl, round, set, files, o, st, stacks, sizes, tools);
              samples.push(...got.samples);
              if (got.witness !== undefined) {
                const json = JSON.stringify(got.witness);
                const ref = witnesses.get(w.id);
                if (ref === undefined) witnesses.set(w.id, { impl: impl.name, json });
                else if (ref.json !== json) throw new Error(`saw ${json} where ${ref.impl} saw ${ref.json}: not the same work`);
              }
            } catch (err) {
              failed.add(`${w.id}\0${impl.name}`);
              const line = `${w.id} on ${impl.name}: failed: ${(err as Error).message.split('\n')[0]}`;
              skipped.push(line);
              progress.note(line);
            }
          }
        }
      } finally {
        await lock?.release();
      }
    }
    progress.done();
    const drops1 = dropCount();
    return {
      machine: machineInfo(scratchParent),
      command: o.command ?? 'layerfs bench',
      options: { rounds: o.rounds, quick: o.quick, scale: sizes.scale, workloads: o.workloads?.source ?? null, dropCaches: o.dropCaches ?? false },
      impls,
      baseline: baselineOf(impls.map((i) => i.name)),
      workloads: workloads.map((w) => ({ id: w.id, title: titleOf(w, sizes), unit: w.unit })),
      skipped,
      samples,
      witnesses: Object.fromEntries([...witnesses].map(([id, w]) => [id, JSON.parse(w.json)])),
      durationSec: Math.round((Date.now() - started) / 100) / 10,
      pageCacheDrops: drops0 === null || drops1 === null ? null : drops1 - drops0,
    };
  } finally {
    progress?.stop();
    podmanStores.cleanup();
    for (const r of st.releases) await r().catch(() => undefined);
    removeDir(st.dir);
  }
}

/**
 * One sample of `w` on `impl`: fresh mount, value, the server's CPU time and peak RSS. A disturbed
 * sample (a page-cache drop meanwhile) of a drop-sensitive workload is taken again, up to `retries`
 * times; every attempt is kept, the disturbed ones marked.
 */
async function sample(
  w: Workload, impl: ImplSpec, round: number, set: LayerSet, files: string[], o: BenchOptions, st: RunState,
  stacks: string, sizes: Sizes, tools: Tools,
): Promise<{ samples: Sample[]; witness?: unknown }> {
  const out: Sample[] = [];
  const retries = o.retries ?? 2;
  let witness: unknown;
  for (let attempt = 0; ; attempt++) {
    let disturbed = false;
    // Workloads without layers (podman) mount for themselves.
    const mount = w.layers === 'none'
      ? async (fn: (m: { mountpoint: string; upper: string; pid: number | null }) => Promise<void>) => fn({ mountpoint: '', upper: '', pid: null })
      : (fn: Parameters<typeof withMount>[3]) => withMount(impl, stacks, set.lower, fn);
    await mount(async (m) => {
      if (w.cold && o.dropCaches) dropMachineCaches();
      else if (w.cold && files.length > 0) dropFileCache(files);
      const ctx: MountContext = { impl, mountpoint: m.mountpoint, upper: m.upper, layers: set, scratch: st.dir, sizes, tools };
      const prepared = await w.prepare?.(ctx);
      const cpu0 = m.pid === null ? null : processCpuMs(m.pid);
      const d0 = dropCount() ?? 0;
      const r = await w.measure(ctx, prepared);
      const drops = (dropCount() ?? 0) - d0;
      const cpu1 = m.pid === null ? null : processCpuMs(m.pid);
      w.check?.(ctx, prepared);
      const value = typeof r === 'number' ? r : r.value;
      if (!Number.isFinite(value) || value < 0) throw new Error(`measured ${value}`);
      witness = typeof r === 'number' ? undefined : r.witness;
      // A drop spoils only warm, cached figures; cold ones keep their count in the CSV.
      disturbed = drops > 0 && w.dropSensitive;
      const base = { workload: w.id, impl: impl.name, round, drops, disturbed };
      out.push({ ...base, metric: 'time', value, unit: w.unit });
      if (cpu0 !== null && cpu1 !== null) out.push({ ...base, metric: 'server-cpu', value: cpu1 - cpu0, unit: 'ms' });
      const rss = m.pid === null ? null : processPeakRssMiB(m.pid);
      if (rss !== null) out.push({ ...base, metric: 'server-peak-rss', value: rss, unit: 'MiB' });
    });
    if (!disturbed || attempt >= retries) return { samples: out, witness };
  }
}
