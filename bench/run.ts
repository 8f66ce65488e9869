#!/usr/bin/env node
/**
 * The engine microbenchmarks (benchmark.js): the engine's lookup and merged readdir against kernel
 * overlayfs on the same layers, engine copy-up by file size, and the server's CPU per FUSE request.
 * `npm run bench` runs them all. Mounted comparisons (layerfs vs kernel overlayfs vs fuse-overlayfs)
 * are the product's `layerfs bench` (lib/bench).
 *
 *   node dist/bench/run.js [--quick] [--no-kernel] [--out FILE] [workload...]
 *
 * Workloads: lookup, readdir, copyup, request-path, mount-rss (server RSS and directory rename cost
 * with nodes held by the kernel, mounted: layerfs, fuse-overlayfs, kernel); a prefix selects; none
 * runs all but mount-rss, `all` runs them all.
 * Prints markdown tables and writes the results as JSON to bench/results/latest.json, or
 * latest-NAMES.json when workloads are named (or --out). Every kernel mount is unmounted
 * (try/finally, plus an exit hook); every temporary layer set is removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kernelOverlayAvailable } from './fixtures';
import { runLookup } from './lookup';
import { runEngineCopyUp } from './copyup';
import { dropCount } from './measure';
import { runMountRss } from './mount-rss';
import { runReaddir } from './readdir';
import { runRequestPath } from './request-path';
import { renderMarkdown } from './report';
import type { Ratio, Row, WorkloadOptions, WorkloadResult } from './types';

export const WORKLOADS: Record<string, (opts: WorkloadOptions) => Promise<WorkloadResult>> = {
  lookup: runLookup,
  readdir: runReaddir,
  copyup: runEngineCopyUp,
  'request-path': runRequestPath,
  'mount-rss': runMountRss,
};

/** What runs when no workload is named: all but mount-rss (mounts, a 200k-file lower; name it or `all`). */
export const DEFAULT_WORKLOADS = Object.keys(WORKLOADS).filter((w) => w !== 'mount-rss');

export interface RunOptions {
  quick?: boolean;
  /** Workload names or prefixes; all when empty. */
  filter?: string[];
  /** false: layerfs only. Default: compare with the kernel when a test mount works. */
  kernel?: boolean;
  /** JSON output file; null for none. */
  outFile?: string | null;
  log?: (msg: string) => void;
}

export interface BenchResults {
  meta: {
    date: string;
    node: string;
    kernel: string;
    cpus: number;
    quick: boolean;
    workloads: string[];
    kernelOverlay: boolean;
    kernelOverlayNote?: string;
    durationSec: number;
    /** Page-cache drops by anyone on the machine during the run (/proc/vmstat drop_pagecache). */
    pageCacheDrops: number | null;
  };
  rows: Row[];
  ratios: Ratio[];
  details: Record<string, unknown>;
}

export const DEFAULT_OUT = path.join(__dirname, '..', '..', 'bench', 'results', 'latest.json');

/** bench/results/latest.json for the full set, latest-NAMES.json for a selection. */
export function defaultOut(filter: string[] = []): string {
  if (filter.length === 0) return DEFAULT_OUT;
  return path.join(path.dirname(DEFAULT_OUT), `latest-${filter.map((f) => f.toLowerCase().replace(/[^a-z0-9-]/g, '')).join('-')}.json`);
}

export function selectWorkloads(filter: string[] = []): string[] {
  const all = Object.keys(WORKLOADS);
  if (filter.length === 0) return DEFAULT_WORKLOADS;
  if (filter.some((f) => f.toLowerCase() === 'all')) return all;
  const chosen = new Set<string>();
  for (const f of filter) {
    const hits = all.filter((w) => w.startsWith(f.toLowerCase()));
    if (hits.length === 0) throw new Error(`unknown workload "${f}" (have: ${all.join(', ')})`);
    hits.forEach((h) => chosen.add(h));
  }
  return all.filter((w) => chosen.has(w));
}

export async function runBenchmarks(options: RunOptions = {}): Promise<BenchResults> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const quick = options.quick ?? false;
  const workloads = selectWorkloads(options.filter);
  let kernel = options.kernel ?? true;
  let kernelNote: string | undefined;
  if (kernel) {
    const probe = kernelOverlayAvailable();
    if (!probe.ok) {
      kernel = false;
      kernelNote = `kernel overlayfs unavailable: ${probe.reason}`;
      log(kernelNote);
    }
  } else {
    kernelNote = 'kernel comparison disabled';
  }
  const drops0 = dropCount();
  const rows: Row[] = [];
  const ratios: Ratio[] = [];
  const details: Record<string, unknown> = {};
  for (const name of workloads) {
    let res: WorkloadResult;
    try {
      res = await WORKLOADS[name]({ quick, kernel, log });
    } catch (err) {
      // One failed group must not lose the others' figures: report it and go on.
      if (options.filter === undefined || options.filter.length === 0) throw err;
      log(`${name} failed: ${(err as Error).stack ?? err}`);
      details[name] = { error: (err as Error).message };
      continue;
    }
    rows.push(...res.rows);
    ratios.push(...res.ratios);
    if (res.details) details[name] = res.details;
  }
  const drops1 = dropCount();
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      kernel: os.release(),
      cpus: os.cpus().length,
      quick,
      workloads,
      kernelOverlay: kernel,
      ...(kernelNote ? { kernelOverlayNote: kernelNote } : {}),
      durationSec: (Date.now() - started) / 1000,
      pageCacheDrops: drops0 === null || drops1 === null ? null : drops1 - drops0,
    },
    rows,
    ratios,
    details,
  };
  const out = options.outFile === undefined ? defaultOut(options.filter) : options.outFile;
  if (out !== null) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  }
  return results;
}

function parseArgs(argv: string[]): RunOptions {
  const opts: RunOptions = { filter: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-kernel') opts.kernel = false;
    else if (a === '--out') opts.outFile = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log(`usage: node dist/bench/run.js [--quick] [--no-kernel] [--out FILE] [${Object.keys(WORKLOADS).join('|')}...]`);
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else opts.filter!.push(a);
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  opts.log = (msg) => process.stderr.write(`# ${msg}\n`);
  const res = await runBenchmarks(opts);
  const m = res.meta;
  console.log(`layerfs benchmarks: node ${m.node}, Linux ${m.kernel}, ${m.cpus} CPUs${m.quick ? ', quick' : ''}; ` +
    `${m.durationSec.toFixed(0)} s; page-cache drops during run: ${m.pageCacheDrops ?? 'n/a'}` +
    (m.kernelOverlayNote ? `; ${m.kernelOverlayNote}` : ''));
  console.log('');
  console.log(renderMarkdown(res.rows, res.ratios));
  const out = opts.outFile === undefined ? defaultOut(opts.filter) : opts.outFile;
  if (out) console.log(`\nJSON: ${path.relative(process.cwd(), out) || out}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
