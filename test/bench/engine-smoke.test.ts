import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Measure } from '../../bench/measure';
import { runBenchmarks, selectWorkloads } from '../../bench/run';
import { renderMarkdown } from '../../bench/report';
import { missing, testIf } from '../helpers/skip';

function checkMeasure(m: Measure, where: string): void {
  for (const key of ['median_us', 'min_us', 'max_us', 'ops_per_sec'] as const) {
    assert.ok(Number.isFinite(m[key]) && m[key] > 0, `${where}: ${key} = ${m[key]}`);
  }
  assert.ok(m.samples >= 1, `${where}: no samples`);
  assert.ok(m.min_us <= m.median_us && m.median_us <= m.max_us, `${where}: min <= median <= max`);
}

test('workload filter selects by prefix and rejects unknown names', () => {
  assert.equal(selectWorkloads([]), ['lookup', 'readdir', 'copyup', 'request-path']);
  assert.equal(selectWorkloads(['read']), ['readdir']);
  assert.equal(selectWorkloads(['all']), ['lookup', 'readdir', 'copyup', 'request-path', 'mount-rss']);
  assert.throws(() => selectWorkloads(['nope']), /unknown workload/);
});

let run: Awaited<ReturnType<typeof runBenchmarks>> | undefined;

test('engine microbenchmarks: lookup and readdir workloads run in --quick mode and give well-formed, positive results', async () => {
  const res = await runBenchmarks({ quick: true, filter: ['lookup', 'readdir'], outFile: null });
  run = res;
  assert.equal(res.meta.workloads, ['lookup', 'readdir']);
  assert.ok(res.meta.quick);
  const groups = new Set(res.rows.map((r) => r.group));
  assert.ok(groups.has('lookup') && groups.has('readdir'));
  for (const layers of [1, 10, 100, 500]) {
    for (const kind of ['cold', 'warm']) {
      assert.ok(res.rows.some((r) => r.workload === `lookup ${kind}, bottom-layer file, ${layers} layer(s)`), `lookup ${kind} ${layers}`);
    }
  }
  for (const kind of ['readdir cold', 'readdir warm', 'first readdir + lstat']) {
    assert.ok(res.rows.some((r) => r.workload.startsWith(kind)), kind);
  }
  for (const row of res.rows) {
    checkMeasure(row.layerfs, `${row.workload} (layerfs)`);
    if (row.kernel !== null) {
      checkMeasure(row.kernel, `${row.workload} (kernel)`);
      assert.ok(row.ratio !== null && row.ratio > 0, `${row.workload}: ratio`);
    } else {
      assert.is(row.ratio, null);
    }
  }
  const warm = res.ratios.find((r) => r.name.startsWith('layerfs warm lookup'));
  assert.ok(warm && warm.value > 0 && warm.goal === 2);
  const table = renderMarkdown(res.rows, res.ratios);
  assert.ok(table.startsWith('| workload'));
  assert.ok(table.split('\n').length > res.rows.length + 2);
  assert.not.throws(() => JSON.parse(JSON.stringify(res)));
});

// The kernel's overlayfs columns (the run above) need root to mount it: counted skipped without.
testIf(test, missing('root'))('as root, kernel overlayfs is measured beside layerfs for every lookup and readdir workload', () => {
  assert.ok(run !== undefined, 'the run of the test above');
  assert.ok(run!.meta.kernelOverlay, run!.meta.kernelOverlayNote);
  assert.ok(run!.rows.filter((r) => /^(lookup|readdir) (cold|warm)/.test(r.workload)).every((r) => r.kernel !== null));
});

test('engine copy-up and request-path microbenchmarks run in --quick mode', async () => {
  const res = await runBenchmarks({ quick: true, filter: ['copyup', 'request-path'], outFile: null });
  const copy = res.rows.filter((r) => r.group === 'copyup');
  assert.ok(copy.some((r) => r.workload.startsWith('engine copy-up (open O_APPEND) of a 8 MiB')), copy.map((r) => r.workload).join('; '));
  assert.ok(copy.some((r) => r.workload.endsWith('metacopy=on') && /metadata only/.test(r.note ?? '')), JSON.stringify(copy.map((r) => r.note)));
  const req = res.rows.filter((r) => r.group === 'request-path');
  assert.is(req.length, 5);
  for (const row of [...copy, ...req]) checkMeasure(row.layerfs, row.workload);
});

test.run();
