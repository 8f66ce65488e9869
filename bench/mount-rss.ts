/**
 * What nodes held by the kernel cost a mounted server (issue 18), layerfs beside fuse-overlayfs and
 * kernel overlayfs, every sample on a fresh mount over one cached lower of 200k files:
 *  - the server's RSS (VmRSS, and VmHWM) after a find-style walk (readdir, lstat of every entry) of
 *    N entries, so that the kernel holds N nodes; per node held: (RSS(N) - RSS(fresh)) / N;
 *  - rename(2) of a lower directory of 4 files to a new name and back, each call timed, over R
 *    distinct directories, with N nodes held (N = 0, 1k, 20k, 200k).
 * The implementations are interleaved (order rotated per sample); kernel overlayfs is mounted with
 * redirect_dir=on (without it, renaming a lower directory is EXDEV). RSS only for the FUSE servers.
 *
 *   node dist/bench/run.js [--quick] mount-rss      (npm run bench -- mount-rss)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chooseImpls } from '../lib/bench/impls';
import { freshStack, mountImpl, probeKernelOverlay } from '../lib/bench/mounts';
import { removeDir } from '../lib/bench/system';
import type { ImplSpec } from '../lib/bench/types';
import { benchCache, cachedTreeLower, removeStale, TreeLower } from './fixtures';
import { median, summarise } from './measure';
import { makeRow, Ratio, Row, WorkloadOptions, WorkloadResult } from './types';

const GROUP = 'mount-rss';
const MiB = 1024 * 1024;

export interface MountRssSizes {
  files: number;
  perDir: number;
  /** Nodes held before the renames; the first is 0 (fresh mount), the last the RSS figure. */
  held: number[];
  renameDirs: number;
  rounds: number;
}

export function mountRssSizes(quick: boolean): MountRssSizes {
  return quick
    ? { files: 2000, perDir: 200, held: [0, 200, 2000], renameDirs: 10, rounds: 1 }
    : { files: 200_000, perDir: 1000, held: [0, 1000, 20_000, 200_000], renameDirs: 50, rounds: 3 };
}

export interface RssSample {
  impl: string;
  held: number;
  /** VmRSS and VmHWM after the walk, bytes; null: no server process (kernel). */
  rss: number | null;
  hwm: number | null;
  walkMs: number;
  /** Per-call µs renaming upper-only directories, and lower ones (null: EXDEV). */
  upper: { there: number[]; back: number[] };
  lower: { there: number[]; back: number[] } | null;
}

const ms = (us: number[]) => `${(median(us) / 1000).toFixed(3)} ms`;
const label = (n: number) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));

function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** readdir + lstat of the first `n` entries of /tree (directories count), as `find MNT` does; how many were lstat'ed. */
export function walkEntries(mnt: string, lower: TreeLower, n: number): number {
  let seen = 0;
  if (n > 0) fs.lstatSync(path.join(mnt, 'tree'));
  for (const d of lower.dirs) {
    if (seen >= n) break;
    const dir = mnt + d;
    fs.lstatSync(dir);
    seen++;
    const names = fs.readdirSync(dir).sort();
    if (names.length !== lower.perDir) throw new Error(`mount-rss: ${d} listed ${names.length} entries, expected ${lower.perDir}`);
    for (const name of names) {
      if (seen >= n) break;
      fs.lstatSync(path.join(dir, name));
      seen++;
    }
  }
  if (seen !== n) throw new Error(`mount-rss: walked ${seen} entries, wanted ${n} (the lower has too few)`);
  return seen;
}

const hrUs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1000;

/** Renames each of `dirs` to a new name and back, each call timed; null when the first is EXDEV (fuse-overlayfs, lower directories). */
function renameEach(mnt: string, dirs: string[]): { there: number[]; back: number[] } | null {
  const there: number[] = [], back: number[] = [];
  for (const d of dirs) {
    const from = mnt + d, to = `${from}.moved`;
    let t0 = process.hrtime.bigint();
    try {
      fs.renameSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EXDEV' && there.length === 0) return null;
      throw err;
    }
    there.push(hrUs(t0));
    t0 = process.hrtime.bigint();
    fs.renameSync(to, from);
    back.push(hrUs(t0));
  }
  // Same work everywhere: each directory back under its name with its files.
  for (const d of [dirs[0], dirs[dirs.length - 1]]) {
    const names = fs.readdirSync(mnt + d).sort().join(',');
    if (names !== 'a,b,c,d') throw new Error(`mount-rss: ${d} holds ${names} after the renames`);
  }
  return { there, back };
}

/** /new/uNNN: upper-only directories of 4 files, written into the upper before the mount. */
const upperDirs = (lower: TreeLower) => lower.renameDirs.map((d) => d.replace(/^\/ren\/r/, '/new/u'));
/** Renamed untimed first, so that the server's rename path is compiled (node) before the timed calls. */
const WARM_DIRS = Array.from({ length: 5 }, (_, i) => `/new/w${i}`);

function writeUpperDirs(upper: string, dirs: string[]): void {
  for (const d of dirs) {
    fs.mkdirSync(upper + d, { recursive: true });
    for (const f of ['a', 'b', 'c', 'd']) fs.writeFileSync(path.join(upper + d, f), f);
  }
}

async function takeSample(impl: ImplSpec, held: number, lower: TreeLower, scratch: string): Promise<RssSample> {
  const s = freshStack(scratch, [lower.layer]);
  try {
    writeUpperDirs(s.upper, [...WARM_DIRS, ...upperDirs(lower)]);
    const m = await mountImpl(impl, s);
    try {
      const t0 = process.hrtime.bigint();
      walkEntries(m.mountpoint, lower, held);
      const walkMs = hrUs(t0) / 1000;
      const rss = m.pid === null ? null : statusBytes(m.pid, 'VmRSS');
      const hwm = m.pid === null ? null : statusBytes(m.pid, 'VmHWM');
      for (let i = 0; i < 4; i++) renameEach(m.mountpoint, WARM_DIRS);
      const up = renameEach(m.mountpoint, upperDirs(lower));
      const low = renameEach(m.mountpoint, lower.renameDirs);
      if (up === null) throw new Error(`mount-rss: ${impl.name}: renaming an upper directory failed with EXDEV`);
      return { impl: impl.name, held, rss, hwm, walkMs, upper: up, lower: low };
    } finally {
      await m.unmount();
    }
  } finally {
    removeDir(s.dir);
  }
}

/** layerfs (defaults), fuse-overlayfs when installed, kernel overlayfs (redirect_dir=on) as root. */
async function impls(opts: WorkloadOptions, scratch: string): Promise<ImplSpec[]> {
  const choice = await chooseImpls({
    extra: [],
    filter: opts.kernel ? /^(layerfs|kernel|fuse-overlayfs)$/ : /^(layerfs|fuse-overlayfs)$/,
    kernelProbe: () => probeKernelOverlay(scratch),
  });
  choice.skipped.forEach((s) => opts.log(`mount-rss: ${s}`));
  return choice.impls.map((i) => (i.kind === 'kernel' ? { ...i, options: [...i.options, 'redirect_dir=on'], description: `${i.description}, redirect_dir=on` } : i));
}

export async function runMountRss(opts: WorkloadOptions): Promise<WorkloadResult> {
  const sz = mountRssSizes(opts.quick);
  const lower = cachedTreeLower(sz.files, sz.perDir, sz.renameDirs, (m) => opts.log(`mount-rss: ${m}`));
  removeStale(benchCache(), 'mount-rss-scratch-');
  const scratch = fs.mkdtempSync(path.join(benchCache(), `mount-rss-scratch-${process.pid}-`));
  const samples: RssSample[] = [];
  let chosen: ImplSpec[];
  try {
    chosen = await impls(opts, scratch);
    // Warms the lower filesystem's dentries and inodes (untimed), so the first sample is not the cold one.
    for (const d of lower.dirs) fs.readdirSync(lower.layer + d).forEach((n) => fs.lstatSync(path.join(lower.layer + d, n)));
    let turn = 0;
    for (let round = 0; round < sz.rounds; round++) {
      for (const held of sz.held) {
        const k = turn++ % chosen.length;
        for (const impl of [...chosen.slice(k), ...chosen.slice(0, k)]) {
          const s = await takeSample(impl, held, lower, scratch);
          opts.log(`mount-rss: round ${round + 1}/${sz.rounds} ${impl.name}, ${label(held)} held: walk ${s.walkMs.toFixed(0)} ms` +
            (s.rss === null ? '' : `, RSS ${(s.rss / MiB).toFixed(1)} MiB (peak ${(s.hwm! / MiB).toFixed(1)})`) +
            `, rename upper dir ${ms(s.upper.there)} / back ${ms(s.upper.back)}, lower dir ${s.lower ? `${ms(s.lower.there)} / back ${ms(s.lower.back)}` : 'EXDEV'}`);
          samples.push(s);
        }
      }
    }
  } finally {
    removeDir(scratch);
  }
  return report(sz, chosen.map((i) => i.name), samples);
}

/** Rows, ratios and details from the samples (exported for the test of its shape). */
export function report(sz: MountRssSizes, names: string[], samples: RssSample[]): WorkloadResult {
  const of = (impl: string, held: number) => samples.filter((s) => s.impl === impl && s.held === held);
  const has = (impl: string) => names.includes(impl);
  const peer = has('fuse-overlayfs') ? 'fuse-overlayfs' : null;
  const max = sz.held[sz.held.length - 1], ref = sz.held[1];
  const rows: Row[] = [];
  const mib = (impl: string, held: number, f: 'rss' | 'hwm') => summarise(of(impl, held).map((s) => s[f]! / MiB), 'per-call');
  const memRow = (what: string, held: number, f: 'rss' | 'hwm', note?: string) => {
    const r = makeRow(GROUP, what, mib('layerfs', held, f), peer ? mib(peer, held, f) : null, note);
    rows.push({ ...r, unit: 'MiB', ...(peer ? { peer } : {}) });
  };
  memRow('server VmRSS, fresh mount', 0, 'rss');
  memRow(`server VmRSS after walk + lstat of ${label(max)} entries`, max, 'rss', 'find-style walk: readdir, then lstat of every entry; the kernel holds the nodes');
  memRow(`server VmHWM (peak) after walk + lstat of ${label(max)} entries`, max, 'hwm');
  const perNode = (impl: string) => {
    const rss0 = median(of(impl, 0).map((s) => s.rss!));
    return summarise(of(impl, max).map((s) => (s.rss! - rss0) / max), 'per-call');
  };
  rows.push({ ...makeRow(GROUP, `server RSS per node held, (RSS ${label(max)} - fresh) / ${label(max)}`, perNode('layerfs'), peer ? perNode(peer) : null),
    unit: 'B', ...(peer ? { peer } : {}) });

  // Upper directories: both directions pooled (the same operation); lower: the first rename (the
  // directory copied up with a redirect), the way back is kept in the details.
  const upRen = (impl: string, held: number) => summarise(of(impl, held).flatMap((s) => [...s.upper.there, ...s.upper.back]), 'per-call');
  const lowSamples = (impl: string, held: number) => of(impl, held).flatMap((s) => s.lower?.there ?? []);
  const lowRen = (impl: string, held: number) => (lowSamples(impl, held).length > 0 ? summarise(lowSamples(impl, held), 'per-call') : null);
  const exdev = names.filter((i) => samples.some((s) => s.impl === i && s.lower === null));
  const dirs = `${sz.renameDirs} directories of 4 files, each call timed`;
  for (const held of sz.held) {
    const what = `rename upper dir and back, ${label(held)} nodes held`;
    const first = held === sz.held[0]; // the series' note once
    rows.push(makeRow(GROUP, what, upRen('layerfs', held), has('kernel') ? upRen('kernel', held) : null,
      first ? `rename(2) of an upper-only directory to a new name and back, ${dirs}` : undefined));
    if (peer) rows.push({ ...makeRow(GROUP, `${what}, vs ${peer}`, upRen('layerfs', held), upRen(peer, held)), peer });
  }
  for (const held of sz.held) {
    rows.push(makeRow(GROUP, `rename lower dir, ${label(held)} nodes held`, lowRen('layerfs', held)!, has('kernel') ? lowRen('kernel', held) : null,
      held !== sz.held[0] ? undefined : `first rename(2) of a lower directory (${dirs}); kernel: redirect_dir=on` + (exdev.length > 0 ? `; ${exdev.join(', ')}: EXDEV` : '')));
  }

  const rssMax = mib('layerfs', max, 'rss').median_us;
  const upL = (held: number) => upRen('layerfs', held).median_us;
  const lowL = (held: number) => lowRen('layerfs', held)!.median_us;
  const ratios: Ratio[] = [];
  const add = (name: string, value: number, goal?: number) => ratios.push({ name, value, ...(goal === undefined ? {} : { goal, ok: value <= goal }) });
  add(`layerfs server VmRSS after ${label(max)}-entry walk / 100 MiB`, rssMax / 100, 1);
  if (peer) add(`layerfs / ${peer} server VmRSS after ${label(max)}-entry walk`, rssMax / mib(peer, max, 'rss').median_us);
  // 20% above 1 for noise: the goal is a rename cost that does not grow with the nodes held.
  add(`layerfs rename upper dir, ${label(max)} vs ${label(ref)} nodes held`, upL(max) / upL(ref), 1.2);
  add(`layerfs rename lower dir, ${label(max)} vs ${label(ref)} nodes held`, lowL(max) / lowL(ref), 1.2);
  if (peer) add(`layerfs / ${peer} rename upper dir, ${label(max)} nodes held`, upL(max) / upRen(peer, max).median_us, 1);
  if (has('kernel')) {
    add(`layerfs / kernel rename upper dir, ${label(max)} nodes held`, upL(max) / upRen('kernel', max).median_us);
    add(`layerfs / kernel rename lower dir, ${label(max)} nodes held`, lowL(max) / lowRen('kernel', max)!.median_us);
  }

  const details: Record<string, unknown> = {
    sizes: sz,
    impls: names,
    medians: Object.fromEntries(names.map((impl) => [impl, Object.fromEntries(sz.held.map((held) => {
      const s = of(impl, held);
      const rss0 = median(of(impl, 0).map((x) => x.rss ?? NaN));
      return [held, {
        rssPerNodeB: s[0]?.rss == null || held === 0 ? null : Math.round(median(s.map((x) => (x.rss! - rss0) / held))),
        rssMiB: s[0]?.rss == null ? null : median(s.map((x) => x.rss! / MiB)),
        hwmMiB: s[0]?.hwm == null ? null : median(s.map((x) => x.hwm! / MiB)),
        walkMs: median(s.map((x) => x.walkMs)),
        renameUpperMs: median(s.flatMap((x) => x.upper.there)) / 1000,
        renameUpperBackMs: median(s.flatMap((x) => x.upper.back)) / 1000,
        renameLowerMs: s.some((x) => x.lower === null) ? 'EXDEV' : median(s.flatMap((x) => x.lower!.there)) / 1000,
        renameLowerBackMs: s.some((x) => x.lower === null) ? 'EXDEV' : median(s.flatMap((x) => x.lower!.back)) / 1000,
      }];
    }))])),
  };
  return { rows, ratios, details };
}
