/**
 * `layerfs bench [options]`: measures layerfs against the other union filesystems on this machine
 * (lib/bench/run.ts), prints a table, and writes results.csv, report.md, chart.svg and
 * results.json into --out. `layerfs bench --compare OLD.csv NEW.csv` shows what changed.
 */
import * as path from 'node:path';
import { UsageError } from '../cli/options';
import { renderCompare } from './compare';
import { writeOutputs, terminalSummary } from './report';
import { runBench, sizesFor, titleOf } from './run';
import type { BenchOptions } from './types';
import { WORKLOADS } from './workloads';
import { LAYERFS_VARIANTS, KERNEL_VARIANTS } from './impls';

export const BENCH_USAGE = `usage: layerfs bench [options]
       layerfs bench --compare OLD.csv NEW.csv

Measures layerfs against kernel overlayfs (root) and fuse-overlayfs (when installed) on the same
layers, the implementations interleaved round by round; prints medians and ratios to the kernel.

  --quick              one round, sizes scaled by 1/16 (a few minutes)
  --rounds N           rounds (default 5; --quick: 1)
  --scale X            multiply every generated size by X (1: a 1 GiB file, a 20k-entry tree,
                       a 10k-entry directory, 5k creates, a 100 MB tarball)
  --workloads REGEX    only the workloads whose id matches (see --list)
  --impls REGEX        only the implementations whose name matches
  --impl 'NAME=PROG ARGS'
                       also measure a fuse-overlayfs-compatible command, called as
                       PROG ARGS -o lowerdir=..,upperdir=..,workdir=.. MNT (repeatable)
  --layers TOP:...:BOTTOM
                       use these lower directories for the tree workloads (walk, create, untar)
  --image REF          use an image's layers from the image store for the tree workloads
  --out DIR            where results.csv, report.md, chart.svg, results.json go
                       (default: ./layerfs-bench-DATE)
  --scratch DIR        where layers and mounts go (default: the temp dir); its filesystem is measured
  --drop-caches        cold samples drop the whole machine's caches (root; for a machine of your
                       own: by default only the lower file's pages are dropped, the lower
                       filesystem's metadata stays cached)
  --json               print the results as JSON on stdout (the table goes to stderr)
  --list               list the workloads and implementations
  --compare OLD NEW    compare two results.csv files
`;

export interface ParsedBench {
  compare?: [string, string];
  list?: boolean;
  json: boolean;
  options: BenchOptions;
}

function regex(flag: string, text: string): RegExp {
  try {
    return new RegExp(text);
  } catch (err) {
    throw new UsageError(`${flag} ${text}: not a regular expression (${(err as Error).message})`);
  }
}

function dated(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `layerfs-bench-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

export function parseBenchArgs(argv: string[], cwd = process.cwd()): ParsedBench {
  const o: BenchOptions = {
    out: null, rounds: 5, quick: false, extraImpls: [],
    progress: process.stderr.isTTY ? 'bar' : 'lines', log: (l) => process.stderr.write(`layerfs bench: ${l}\n`),
    command: ['layerfs', 'bench', ...argv].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '),
  };
  let rounds: number | undefined;
  let out: string | undefined;
  let json = false;
  let list = false;
  let compare: [string, string] | undefined;
  const value = (i: number, flag: string) => {
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`${flag} needs a value (see layerfs bench --help)`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--json': json = true; break;
      case '--list': list = true; break;
      case '--drop-caches': o.dropCaches = true; break;
      case '--rounds': {
        const v = value(i++, a);
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--rounds ${v}: expected a whole number >= 1`);
        rounds = Number(v);
        break;
      }
      case '--scale': {
        const v = value(i++, a);
        const n = Number(v);
        if (!(n > 0 && n <= 4)) throw new UsageError(`--scale ${v}: expected a number in (0, 4]`);
        o.scale = n;
        break;
      }
      case '--workloads': o.workloads = regex(a, value(i++, a)); break;
      case '--impls': o.implFilter = regex(a, value(i++, a)); break;
      case '--impl': o.extraImpls.push(value(i++, a)); break;
      case '--layers': o.layers = value(i++, a).split(':').filter((d) => d !== '').map((d) => path.resolve(cwd, d)); break;
      case '--image': o.image = value(i++, a); break;
      case '--out': out = path.resolve(cwd, value(i++, a)); break;
      case '--scratch': o.scratch = path.resolve(cwd, value(i++, a)); break;
      case '--compare':
        if (i + 2 >= argv.length) throw new UsageError('--compare needs two results.csv files: --compare OLD.csv NEW.csv');
        compare = [path.resolve(cwd, argv[i + 1]), path.resolve(cwd, argv[i + 2])];
        i += 2;
        break;
      default:
        throw new UsageError(`unknown bench option ${a} (see layerfs bench --help)`);
    }
  }
  if (o.layers !== undefined && o.image !== undefined) throw new UsageError('--layers and --image both name the tree layers: give one');
  if (o.layers !== undefined && o.layers.length === 0) throw new UsageError('--layers names no directory');
  o.rounds = rounds ?? (o.quick ? 1 : 5);
  o.out = out ?? path.join(cwd, dated());
  return { compare, list, json, options: o };
}

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const p = parseBenchArgs(argv);
  if (p.compare) {
    process.stdout.write(renderCompare(p.compare[0], p.compare[1]));
    return 0;
  }
  if (p.list) {
    const sizes = sizesFor(p.options.scale, p.options.quick);
    const lines = ['workloads:', ...WORKLOADS.map((w) => `  ${w.id.padEnd(16)} ${titleOf(w, sizes)}`), '', 'implementations (those that can run here are measured):',
      ...LAYERFS_VARIANTS.map((v) => `  ${v.name.padEnd(22)} ${v.description}`), ...KERNEL_VARIANTS.map((v) => `  ${v.name.padEnd(22)} ${v.description}`),
      `  ${'fuse-overlayfs'.padEnd(22)} fuse-overlayfs -f`, `  ${'NAME'.padEnd(22)} --impl 'NAME=PROG ARGS'`];
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  }
  const results = await runBench(p.options);
  if (p.options.out !== null) writeOutputs(results, p.options.out);
  const summary = terminalSummary(results, p.options.out);
  if (p.json) {
    process.stderr.write(summary);
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  } else process.stdout.write(summary);
  if (!results.samples.some((x) => x.metric === 'time')) {
    process.stderr.write('layerfs bench: nothing could be measured here (see "not measured here" above)\n');
    return 1;
  }
  return 0;
}
