import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedTreeLower, removeStale } from '../../bench/fixtures';
import type { Measure } from '../../bench/measure';
import { mountRssSizes, report, RssSample } from '../../bench/mount-rss';
import { renderMarkdown } from '../../bench/report';
import { runBenchmarks, selectWorkloads } from '../../bench/run';
import type { Row } from '../../bench/types';
import { hasCommand } from '../../lib/bench/system';
import { missing, testIf } from '../helpers/skip';

function checkMeasure(m: Measure, where: string): void {
  for (const key of ['median_us', 'min_us', 'max_us'] as const) assert.ok(Number.isFinite(m[key]), `${where}: ${key} = ${m[key]}`);
  assert.ok(m.samples >= 1, `${where}: no samples`);
  assert.ok(m.min_us <= m.median_us && m.median_us <= m.max_us, `${where}: min <= median <= max`);
}

/** Rows of the mount-rss shape: RSS rows in MiB/B, rename rows for every number of nodes held. */
function checkRows(rows: Row[], held: number[], peer: string | null, kernel: boolean): void {
  for (const row of rows) {
    assert.is(row.group, 'mount-rss');
    checkMeasure(row.layerfs, row.workload);
    if (row.kernel) checkMeasure(row.kernel, `${row.workload} (second column)`);
    assert.is(row.ratio === null, row.kernel === null, `${row.workload}: ratio iff a second column`);
  }
  const rss = rows.filter((r) => r.unit === 'MiB');
  assert.ok(rss.some((r) => r.workload.startsWith('server VmRSS after walk + lstat')), rss.map((r) => r.workload).join('; '));
  assert.ok(rss.every((r) => r.layerfs.median_us > 0 && r.peer === (peer ?? undefined)));
  assert.ok(rows.some((r) => r.unit === 'B' && r.workload.startsWith('server RSS per node held')));
  for (const n of held) {
    const label = n >= 1000 ? `${n / 1000}k` : String(n);
    const up = rows.find((r) => r.workload === `rename upper dir and back, ${label} nodes held`);
    const low = rows.find((r) => r.workload === `rename lower dir, ${label} nodes held`);
    assert.ok(up && low, `rename rows for ${label} held`);
    assert.is(up!.kernel !== null, kernel);
    assert.is(low!.kernel !== null, kernel);
    assert.is(rows.some((r) => r.peer !== undefined && r.workload === `rename upper dir and back, ${label} nodes held, vs ${peer}`), peer !== null);
  }
}

test('mount-rss is selected by name or `all`, not by default', () => {
  assert.equal(selectWorkloads(['mount']), ['mount-rss']);
  assert.not.ok(selectWorkloads([]).includes('mount-rss'));
  assert.ok(selectWorkloads(['all']).includes('mount-rss'));
});

test('mount-rss report: rows, ratios and the markdown table from samples (layerfs alone)', () => {
  const sz = mountRssSizes(true);
  const samples: RssSample[] = sz.held.map((held, i) => ({
    impl: 'layerfs', held, rss: (50 + i) * 1024 * 1024, hwm: (51 + i) * 1024 * 1024, walkMs: held / 10,
    upper: { there: [300, 310], back: [290, 280] }, lower: { there: [900, 950], back: [400, 420] },
  }));
  const res = report(sz, ['layerfs'], samples);
  checkRows(res.rows, sz.held, null, false);
  const vmrss = res.rows.find((r) => r.workload.startsWith('server VmRSS after'))!;
  assert.is(vmrss.layerfs.median_us, 52);
  assert.is(res.rows.find((r) => r.unit === 'B')!.layerfs.median_us, (2 * 1024 * 1024) / sz.held[sz.held.length - 1]);
  assert.ok(res.ratios.some((r) => r.goal === 1 && r.name.includes('/ 100 MiB') && r.ok));
  const table = renderMarkdown(res.rows, res.ratios);
  assert.match(table, /\| 52\.0 MiB \|/);
  assert.match(table, /\| 295 µs /);
});

test('cached lower: generated once, renamed into place; leftovers of dead runs removed, live ones kept', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-mount-rss-'));
  const saved = process.env.LAYERFS_BENCH_CACHE;
  process.env.LAYERFS_BENCH_CACHE = cache;
  try {
    const dead = spawnSync('true').pid!;
    for (const n of [`mount-rss-scratch-${dead}-a`, `mount-rss-scratch-${process.pid}-b`, `tree-v1-30-10-2.new-${dead}`]) fs.mkdirSync(path.join(cache, n));
    removeStale(cache, 'mount-rss-scratch-');
    const lower = cachedTreeLower(30, 10, 2);
    assert.equal(fs.readdirSync(cache).sort(), [`mount-rss-scratch-${process.pid}-b`, 'tree-v1-30-10-2']);
    assert.equal(lower.dirs, ['/tree/d0000', '/tree/d0001', '/tree/d0002']);
    assert.is(fs.readdirSync(lower.layer + '/tree/d0002').length, 10);
    assert.equal(fs.readdirSync(lower.layer + lower.renameDirs[1]).sort(), ['a', 'b', 'c', 'd']);
    fs.writeFileSync(path.join(lower.layer, 'kept'), '');
    assert.ok(fs.existsSync(path.join(cachedTreeLower(30, 10, 2).layer, 'kept')), 'reused, not generated again');
  } finally {
    if (saved === undefined) delete process.env.LAYERFS_BENCH_CACHE;
    else process.env.LAYERFS_BENCH_CACHE = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

testIf(test, missing('root', '/dev/fuse'))('mount-rss --quick runs mounted (layerfs, fuse-overlayfs and kernel where present) and gives well-formed rows', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-mount-rss-'));
  const saved = process.env.LAYERFS_BENCH_CACHE;
  process.env.LAYERFS_BENCH_CACHE = cache;
  try {
    const res = await runBenchmarks({ quick: true, filter: ['mount-rss'], outFile: null });
    assert.not.ok((res.details['mount-rss'] as { error?: string } | undefined)?.error, JSON.stringify(res.details['mount-rss']));
    checkRows(res.rows, mountRssSizes(true).held, hasCommand('fuse-overlayfs') ? 'fuse-overlayfs' : null, res.meta.kernelOverlay);
    assert.ok(res.ratios.length >= 3 && res.ratios.every((r) => Number.isFinite(r.value) && r.value > 0));
    assert.ok(renderMarkdown(res.rows, res.ratios).includes('MiB'));
    assert.not.throws(() => JSON.parse(JSON.stringify(res)));
    // The scratch directory of the mounts is gone; the generated lower stays for the next run.
    assert.equal(fs.readdirSync(cache).filter((n) => n.startsWith('mount-rss-scratch-')), []);
  } finally {
    if (saved === undefined) delete process.env.LAYERFS_BENCH_CACHE;
    else process.env.LAYERFS_BENCH_CACHE = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test.run();
