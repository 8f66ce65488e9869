import Benchmark from 'benchmark';

/** One figure: time per operation, summarised over samples (all times in microseconds). */
export interface Measure {
  median_us: number;
  min_us: number;
  max_us: number;
  samples: number;
  ops_per_sec: number;
  /** 'per-call': each sample is one timed call; 'benchmark.js': each sample is one benchmark.js cycle mean. */
  method: 'per-call' | 'benchmark.js';
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarise(samplesUs: number[], method: Measure['method']): Measure {
  const med = median(samplesUs);
  return {
    median_us: med,
    min_us: Math.min(...samplesUs),
    max_us: Math.max(...samplesUs),
    samples: samplesUs.length,
    ops_per_sec: 1e6 / med,
    method,
  };
}

/** Wall time of one call, in microseconds. */
export function timeUs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1000;
}

/** A contender in a cold measurement: untimed `setup`, timed `run`, untimed `teardown` (always called). */
export interface ColdImpl<S = unknown> {
  name: string;
  setup(): S;
  run(state: S): void;
  teardown(state: S): void;
}

/**
 * Cold figures, one timed call per sample, with the implementations interleaved (the order flips each
 * round) so that a noisy neighbour hits them alike. Returns the samples (µs) per implementation.
 */
export function interleaveCold(impls: ColdImpl<any>[], samples: number, warmup = 1): Map<string, number[]> {
  const out = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  for (let round = -warmup; round < samples; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const impl of order) {
      const state = impl.setup();
      let us: number;
      try {
        us = timeUs(() => impl.run(state));
      } finally {
        impl.teardown(state);
      }
      if (round >= 0) out.get(impl.name)!.push(us);
    }
  }
  return out;
}

/** Keeps results alive so the optimiser cannot drop the measured calls. */
export let sink: unknown = null;
export function keep(v: unknown): void {
  sink = v;
}

/** Warm figures with benchmark.js, several rounds with the implementations interleaved; samples pooled. */
export function benchWarm(impls: { name: string; fn: () => void }[], rounds: number, maxTime: number): Map<string, Measure> {
  const pooled = new Map<string, number[]>(impls.map((i) => [i.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const impl of order) {
      const b = new Benchmark(impl.name, impl.fn, { maxTime, minSamples: 5, async: false });
      b.run();
      const err = (b as unknown as { error?: unknown }).error;
      if (err) throw err;
      pooled.get(impl.name)!.push(...b.stats.sample.map((s) => s * 1e6));
    }
  }
  return new Map([...pooled].map(([name, xs]) => [name, summarise(xs, 'benchmark.js')]));
}

/** How many page-cache drops the whole machine did (other users drop caches; see measured-facts.md). */
export function dropCount(): number | null {
  try {
    const vmstat = require('node:fs').readFileSync('/proc/vmstat', 'utf8') as string;
    const m = vmstat.match(/^drop_pagecache (\d+)$/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
