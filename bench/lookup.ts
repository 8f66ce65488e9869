import * as fs from 'node:fs';
import { Overlay } from '../lib/engine/overlay';
import { buildLookupFixture, mountLower } from './fixtures';
import { ColdImpl, Measure, benchWarm, interleaveCold, keep, summarise } from './measure';
import { Ratio, Row, WorkloadOptions, WorkloadResult, makeRow } from './types';
import type { KernelMount } from '../test/helpers/kernel-overlay';

export const LAYER_COUNTS = [1, 10, 100, 500];

/**
 * Lookup of /d/target, present only in the bottom layer, under 1..500 lower layers whose /d each
 * hold a few hundred other names.
 *  - cold: a fresh Overlay (opened untimed) resolving the path once; kernel: a fresh mount, one lstat.
 *  - warm: resolve again and again on an open overlay; kernel: lstat on a mount.
 *  - node cache miss: an overlay whose node cache holds one entry, so every resolve merges /d again
 *    from its (cached) directory index: the cost of re-looking-up a name evicted from the cache.
 *  - open: Overlay.open alone; kernel: mount(8) (includes spawning mount and umount is untimed).
 */
export async function runLookup(opts: WorkloadOptions): Promise<WorkloadResult> {
  const namesPerLayer = opts.quick ? 40 : 300;
  const maxLayers = Math.max(...LAYER_COUNTS);
  opts.log(`lookup: building ${maxLayers} layers x ${namesPerLayer} names`);
  const fx = buildLookupFixture(maxLayers, namesPerLayer);
  const rows: Row[] = [];
  const warm = new Map<number, Measure>();
  const cold = new Map<number, Measure>();
  const details: Record<string, unknown> = { namesPerLayer, target: fx.target, engineStats: {} as Record<string, unknown> };
  const rounds = opts.quick ? 1 : 4;
  const maxTime = opts.quick ? 0.03 : 0.25;
  try {
    for (const n of LAYER_COUNTS) {
      const lower = fx.lowerFor(n);
      const klower = fx.kernelLowerFor(n);
      const knote = klower.length !== lower.length ? 'kernel: an empty top layer added (a read-only kernel overlay needs 2 lowers)' : undefined;
      const mp = fx.mountpoint();
      const kernelTarget = mp + fx.target;
      opts.log(`lookup: ${n} layer(s)`);

      // --- open / mount cost (reported apart so the cold lookup excludes it)
      let lastOpen: Overlay | null = null;
      const openImpls: ColdImpl<any>[] = [
        {
          name: 'layerfs',
          setup: () => null,
          run: () => (lastOpen = Overlay.open({ lower })),
          teardown: () => {
            lastOpen?.close();
            lastOpen = null;
          },
        },
      ];
      let kmOpen: KernelMount | null = null;
      if (opts.kernel) {
        openImpls.push({
          name: 'kernel',
          setup: () => null,
          run: () => (kmOpen = mountLower(klower, mp)),
          teardown: () => {
            kmOpen?.unmount();
            kmOpen = null;
          },
        });
      }
      const openSamples = interleaveCold(openImpls, opts.quick ? 2 : n >= 100 ? 7 : 15);
      rows.push(makeRow('lookup', `open: Overlay.open vs mount(8), ${n} layer(s)`, summarise(openSamples.get('layerfs')!, 'per-call'),
        opts.kernel ? summarise(openSamples.get('kernel')!, 'per-call') : null, 'kernel figure includes spawning mount(8)'));
      if (knote) rows[rows.length - 1].note += `; ${knote}`;

      // --- cold lookup: fresh overlay / fresh mount, one resolve / lstat timed
      let coldStats: unknown = null;
      const coldImpls: ColdImpl<any>[] = [
        {
          name: 'layerfs',
          setup: () => Overlay.open({ lower }),
          run: (ov: Overlay) => keep(ov.resolve(fx.target)),
          teardown: (ov: Overlay) => {
            coldStats = { ...ov.stats, cacheSizes: ov.cacheSizes() };
            ov.close();
          },
        },
      ];
      if (opts.kernel) {
        coldImpls.push({
          name: 'kernel',
          setup: () => mountLower(klower, mp),
          run: () => keep(fs.lstatSync(kernelTarget)),
          teardown: (m: KernelMount) => m.unmount(),
        });
      }
      // The first (warm-up) round fills the lower filesystem's dentry cache, negative entries included.
      const coldSamples = interleaveCold(coldImpls, opts.quick ? 3 : n >= 100 ? 15 : 31, 1);
      cold.set(n, summarise(coldSamples.get('layerfs')!, 'per-call'));
      rows.push(makeRow('lookup', `lookup cold, bottom-layer file, ${n} layer(s)`, cold.get(n)!,
        opts.kernel ? summarise(coldSamples.get('kernel')!, 'per-call') : null, knote));
      (details.engineStats as Record<string, unknown>)[`cold_${n}`] = coldStats;

      // --- warm lookup
      const ov = Overlay.open({ lower });
      const ovMiss = Overlay.open({ lower, cache: { nodes: 1 } });
      let km: KernelMount | null = null;
      try {
        ov.resolve(fx.target);
        ovMiss.resolve(fx.target);
        const impls = [
          { name: 'layerfs', fn: () => keep(ov.resolve(fx.target)) },
          { name: 'layerfs-miss', fn: () => keep(ovMiss.resolve(fx.target)) },
        ];
        if (opts.kernel) {
          km = mountLower(klower, mp);
          fs.lstatSync(kernelTarget);
          impls.push({ name: 'kernel', fn: () => keep(fs.lstatSync(kernelTarget)) });
        }
        const w = benchWarm(impls, rounds, maxTime);
        warm.set(n, w.get('layerfs')!);
        rows.push(makeRow('lookup', `lookup warm, bottom-layer file, ${n} layer(s)`, w.get('layerfs')!, w.get('kernel') ?? null,
          'layerfs: node-cache hit, no syscall; kernel: lstat(2) on a dcache hit'));
        rows.push(makeRow('lookup', `lookup, node cache miss (dir index warm), ${n} layer(s)`, w.get('layerfs-miss')!, null,
          'cache.nodes = 1: /d is merged again over every layer'));
        (details.engineStats as Record<string, unknown>)[`miss_${n}`] = { ...ovMiss.stats };
      } finally {
        km?.unmount();
        ov.close();
        ovMiss.close();
      }
    }
  } finally {
    fx.remove();
  }
  const lo = Math.min(...LAYER_COUNTS), hi = Math.max(...LAYER_COUNTS);
  const warmRatio = warm.get(hi)!.median_us / warm.get(lo)!.median_us;
  const ratios: Ratio[] = [
    { name: `layerfs warm lookup, ${hi} vs ${lo} layer(s)`, value: warmRatio, goal: 2, ok: warmRatio <= 2 },
    { name: `layerfs cold lookup, ${hi} vs ${lo} layer(s)`, value: cold.get(hi)!.median_us / cold.get(lo)!.median_us },
  ];
  return { rows, ratios, details };
}
