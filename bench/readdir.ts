import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../lib/engine/overlay';
import { buildReaddirFixture, mountLower } from './fixtures';
import { ColdImpl, benchWarm, interleaveCold, keep, summarise } from './measure';
import { Row, WorkloadOptions, WorkloadResult, makeRow } from './types';
import type { KernelMount } from '../test/helpers/kernel-overlay';

function expectCount(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`readdir bench: ${what} listed ${got} entries, expected ${want}`);
}

/**
 * Merged readdir of a 10k-entry directory over 3 layers (shared names, whiteouts):
 *  - cold: fresh overlay (opened untimed), opendir builds the directory index; kernel: fresh mount, readdir.
 *  - warm: opendir again on an open overlay; kernel: readdir again on the mount.
 *  - first readdir + lstat of every entry: fresh overlay / fresh mount, list then stat each name.
 * Listings are checked for the expected number of names, so both sides do the same work.
 */
export async function runReaddir(opts: WorkloadOptions): Promise<WorkloadResult> {
  const scale = opts.quick ? 0.1 : 1;
  opts.log('readdir: building 3 layers');
  const fx = buildReaddirFixture(scale);
  const rows: Row[] = [];
  const n = fx.visible;
  const label = n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
  const coldSamples = opts.quick ? 3 : 21;
  const details: Record<string, unknown> = { entries: n, layers: fx.lower.length };
  const mp = fx.mountpoint();
  const kdir = mp + fx.dir;
  try {
    const engineCold = (work: (ov: Overlay) => void): ColdImpl<Overlay> => ({
      name: 'layerfs',
      setup: () => Overlay.open({ lower: fx.lower }),
      run: work,
      teardown: (ov) => ov.close(),
    });
    const kernelCold = (work: () => void): ColdImpl<KernelMount> => ({
      name: 'kernel',
      setup: () => mountLower(fx.lower, mp),
      run: work,
      teardown: (m) => m.unmount(),
    });
    const pair = (e: ColdImpl<Overlay>, k: ColdImpl<KernelMount>): ColdImpl<any>[] => (opts.kernel ? [e, k] : [e]);

    // --- cold readdir
    opts.log('readdir: cold');
    let s = interleaveCold(
      pair(
        engineCold((ov) => {
          const h = ov.opendir(fx.dir);
          expectCount('layerfs', h.entries.length - 2, n);
          keep(h);
        }),
        kernelCold(() => {
          const list = fs.readdirSync(kdir, { withFileTypes: true });
          expectCount('kernel', list.length, n);
          keep(list);
        }),
      ),
      coldSamples,
    );
    rows.push(makeRow('readdir', `readdir cold, ${label} entries over 3 layers`, summarise(s.get('layerfs')!, 'per-call'),
      opts.kernel ? summarise(s.get('kernel')!, 'per-call') : null, 'layerfs: opendir builds the merged index'));

    // --- warm readdir
    opts.log('readdir: warm');
    const ov = Overlay.open({ lower: fx.lower });
    let km: KernelMount | null = null;
    try {
      expectCount('layerfs', ov.readdir(fx.dir).length, n);
      const impls = [{ name: 'layerfs', fn: () => keep(ov.opendir(fx.dir).entries) }];
      if (opts.kernel) {
        km = mountLower(fx.lower, mp);
        expectCount('kernel', fs.readdirSync(kdir, { withFileTypes: true }).length, n);
        impls.push({ name: 'kernel', fn: () => keep(fs.readdirSync(kdir, { withFileTypes: true })) });
      }
      const w = benchWarm(impls, opts.quick ? 1 : 4, opts.quick ? 0.05 : 0.4);
      rows.push(makeRow('readdir', `readdir warm, ${label} entries over 3 layers`, w.get('layerfs')!, w.get('kernel') ?? null,
        'layerfs: opendir on an open overlay (index cached)'));
      details.engineStatsWarm = { ...ov.stats, cacheSizes: ov.cacheSizes() };
    } finally {
      km?.unmount();
      ov.close();
    }

    // --- first readdir + lstat of every entry
    opts.log('readdir: first readdir + lstat each');
    let statsAfter: unknown = null;
    const e = engineCold((o) => {
      const list = o.readdir(fx.dir);
      expectCount('layerfs', list.length, n);
      for (const ent of list) keep(o.getattr(`${fx.dir}/${ent.name}`));
    });
    const teardown = e.teardown;
    e.teardown = (o) => {
      statsAfter = { ...o.stats, cacheSizes: o.cacheSizes() };
      teardown(o);
    };
    s = interleaveCold(
      pair(
        e,
        kernelCold(() => {
          const names = fs.readdirSync(kdir);
          expectCount('kernel', names.length, n);
          for (const name of names) keep(fs.lstatSync(path.join(kdir, name)));
        }),
      ),
      opts.quick ? 3 : 15,
    );
    rows.push(makeRow('readdir', `first readdir + lstat of each, ${label} entries`, summarise(s.get('layerfs')!, 'per-call'),
      opts.kernel ? summarise(s.get('kernel')!, 'per-call') : null, 'layerfs: readdir then getattr(path) of each'));
    details.engineStatsReaddirLstat = statsAfter;
  } finally {
    fx.remove();
  }
  return { rows, ratios: [], details };
}
