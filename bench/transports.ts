#!/usr/bin/env node
/**
 * Per-request cost of each transport over the same layers: our /dev/fuse session (with kernel
 * passthrough, and served by us) against fuse-native (libfuse 2).
 *
 *   node dist/bench/transports.js [--rounds N] [--reads N] [--files N]
 *
 * Workloads, run by a python3 child on each mount (another process, as users of a mount are):
 * - 4k O_DIRECT reads of a lower file whose data is cached: one READ request each (served), or
 *   none with passthrough; µs per read.
 * - lstat of N lower files: first pass (LOOKUP + attributes per name) and second pass (what the
 *   kernel cached answers; fuse-native asks for attributes again, attr_timeout=0); µs per file.
 * Rounds interleave the transports; medians are printed as a markdown table. Also exports
 * `measureTransports` for `layerfs bench`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mount, MountOptions } from '../lib/mount';

export interface TransportCase {
  name: string;
  options: Partial<MountOptions>;
}

export const TRANSPORT_CASES: TransportCase[] = [
  { name: 'fuse (passthrough)', options: { transport: 'fuse', passthrough: 'auto' } },
  { name: 'fuse (served)', options: { transport: 'fuse', opens: 'server', passthrough: false } },
  { name: 'fuse-native', options: { transport: 'fuse-native' } },
];

export interface TransportFigures {
  readUs: number;
  statColdUs: number;
  statWarmUs: number;
}

const PROBE = `
import mmap, os, sys, time
mp, reads, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = mmap.mmap(-1, 4096)
fd = os.open(mp + "/data/big", os.O_RDONLY | os.O_DIRECT)
n = 64 << 20 >> 12
for i in range(200): os.preadv(fd, [buf], (i * 7919 % n) << 12)
t = time.perf_counter()
for i in range(reads): os.preadv(fd, [buf], (i * 7919 % n) << 12)
read_us = (time.perf_counter() - t) / reads * 1e6
os.close(fd)
names = [mp + "/files/f%05d" % i for i in range(files)]
t = time.perf_counter()
for p in names: os.lstat(p)
cold = (time.perf_counter() - t) / files * 1e6
t = time.perf_counter()
for p in names: os.lstat(p)
warm = (time.perf_counter() - t) / files * 1e6
print(read_us, cold, warm)
`;

function makeLayers(base: string, files: number): { lower: string[] } {
  const lower = path.join(base, 'lower');
  fs.mkdirSync(path.join(lower, 'data'), { recursive: true });
  fs.mkdirSync(path.join(lower, 'files'));
  const fd = fs.openSync(path.join(lower, 'data/big'), 'w');
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let i = 0; i < 64; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(lower, 'files', `f${String(i).padStart(5, '0')}`), `${i}\n`);
  return { lower: [lower] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Medians per transport case over `rounds` interleaved rounds. */
export async function measureTransports(opts: { rounds?: number; reads?: number; files?: number; log?: (l: string) => void } = {}): Promise<Record<string, TransportFigures>> {
  const rounds = opts.rounds ?? 3, reads = opts.reads ?? 20000, files = opts.files ?? 3000;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-transports-'));
  const samples: Record<string, TransportFigures[]> = {};
  try {
    const { lower } = makeLayers(base, files);
    fs.readFileSync(path.join(lower[0], 'data/big')); // the lower file's data cached
    for (let r = 0; r < rounds; r++) {
      for (const c of TRANSPORT_CASES) {
        const mp = path.join(base, 'mnt');
        fs.mkdirSync(mp, { recursive: true });
        let m;
        try {
          m = await mount({ lower, mountpoint: mp, ...c.options });
        } catch (err) {
          log(`transports: ${c.name}: ${(err as Error).message}`);
          continue;
        }
        try {
          const out = execFileSync('python3', ['-c', PROBE, mp, String(reads), String(files)], { encoding: 'utf8' }).trim().split(' ').map(Number);
          (samples[c.name] ??= []).push({ readUs: out[0], statColdUs: out[1], statWarmUs: out[2] });
          log(`transports: round ${r + 1}/${rounds} ${c.name}: 4k read ${out[0].toFixed(1)} µs, lstat ${out[1].toFixed(1)} / ${out[2].toFixed(1)} µs`);
        } finally {
          await m.unmount();
        }
      }
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  const out: Record<string, TransportFigures> = {};
  for (const [name, s] of Object.entries(samples)) {
    out[name] = { readUs: median(s.map((x) => x.readUs)), statColdUs: median(s.map((x) => x.statColdUs)), statWarmUs: median(s.map((x) => x.statWarmUs)) };
  }
  return out;
}

export function transportsTable(figures: Record<string, TransportFigures>): string {
  const lines = ['| transport | 4k O_DIRECT read, cached lower file | lstat, first | lstat, again |', '|---|---|---|---|'];
  for (const [name, f] of Object.entries(figures)) lines.push(`| ${name} | ${f.readUs.toFixed(1)} µs | ${f.statColdUs.toFixed(1)} µs | ${f.statWarmUs.toFixed(1)} µs |`);
  return lines.join('\n');
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i < 0 ? undefined : Number(process.argv[i + 1]);
  };
  void measureTransports({ rounds: arg('--rounds'), reads: arg('--reads'), files: arg('--files') }).then((f) => {
    console.log(transportsTable(f));
    process.exit(0);
  }, (err) => {
    console.error(`transports: ${(err as Error).message}`);
    process.exit(1);
  });
}
