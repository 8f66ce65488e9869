import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseBenchArgs } from '../../lib/bench/cli';
import { renderChart } from '../../lib/bench/chart';
import { compareSamples } from '../../lib/bench/compare';
import { parseImplArg } from '../../lib/bench/impls';
import { sizesFor } from '../../lib/bench/run';
import { parseCsv, Summaries, toCsv } from '../../lib/bench/samples';
import type { BenchResults, Sample } from '../../lib/bench/types';

const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const temps: string[] = [];
const temp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-benchtest-'));
  temps.push(d);
  return d;
};
process.on('exit', () => temps.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Parses `svg` with a real XML parser (python3's ElementTree): element counts by tag, and bar rects by implementation. */
function parseSvg(file: string): { tags: Record<string, number>; bars: Record<string, number>; workloads: string[] } {
  const py = `
import json, sys, collections, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
assert root.tag == ns + 'svg', root.tag
tags = collections.Counter(e.tag.replace(ns, '') for e in root.iter())
bars = collections.Counter(e.get('data-impl') for e in root.iter(ns + 'rect') if e.get('class') == 'bar')
wl = [e.get('data-workload') for e in root.iter(ns + 'g') if e.get('class') == 'workload']
print(json.dumps({'tags': tags, 'bars': bars, 'workloads': wl}))`;
  return JSON.parse(execFileSync('python3', ['-c', py, file], { encoding: 'utf8' }));
}

const sample = (workload: string, impl: string, round: number, value: number, extra: Partial<Sample> = {}): Sample => ({
  workload, metric: 'time', impl, round, value, unit: 'ms', drops: 0, disturbed: false, ...extra,
});

test('options: defaults, --quick, scale, and precise messages for bad ones', () => {
  const p = parseBenchArgs([], '/w');
  assert.is(p.options.rounds, 5);
  assert.ok(p.options.out!.startsWith('/w/layerfs-bench-'));
  const q = parseBenchArgs(['--quick', '--scale', '0.01', '--workloads', '^walk', '--out', 'o', '--impl', 'x=prog -a'], '/w');
  assert.is(q.options.rounds, 1);
  assert.is(q.options.out, '/w/o');
  assert.ok(q.options.workloads!.test('walk-cold') && !q.options.workloads!.test('untar'));
  assert.equal(q.options.extraImpls, ['x=prog -a']);
  assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds 0: expected a whole number/);
  assert.throws(() => parseBenchArgs(['--scale', 'big']), /--scale big/);
  assert.throws(() => parseBenchArgs(['--workloads', '(']), /not a regular expression/);
  assert.throws(() => parseBenchArgs(['--layers', 'a', '--image', 'b']), /give one/);
  assert.throws(() => parseBenchArgs(['--frobnicate']), /unknown bench option --frobnicate/);
  assert.throws(() => parseBenchArgs(['--compare', 'a.csv']), /two results.csv/);
  assert.equal(parseImplArg('fo2=fuse-overlayfs  -f').argv, ['fuse-overlayfs', '-f']);
  assert.throws(() => parseImplArg('no-program='), /NAME=PROG/);
  assert.throws(() => parseImplArg('bad name=prog'), /NAME=PROG/);
  assert.is(sizesFor(undefined, false).bigFile, 1 << 30);
  assert.is(sizesFor(undefined, true).bigFile, 64 << 20);
  assert.is(sizesFor(0.01, true).tarBytes, 1 << 20);
});

test('results.csv round trip; medians leave disturbed samples out; --compare reports change and ratios', () => {
  const old = [
    sample('walk-cold', 'kernel', 0, 10), sample('walk-cold', 'kernel', 1, 12), sample('walk-cold', 'kernel', 2, 11),
    sample('walk-cold', 'layerfs', 0, 30), sample('walk-cold', 'layerfs', 1, 33), sample('walk-cold', 'layerfs', 2, 900, { disturbed: true, drops: 2 }),
    sample('walk-cold', 'layerfs', 2, 31), sample('walk-cold', 'layerfs', 0, 40, { metric: 'server-cpu' }),
  ];
  const parsed = parseCsv(toCsv(old));
  assert.equal(parsed, old);
  const s = new Summaries(parsed);
  assert.equal(s.get('walk-cold', 'layerfs'), { median: 31, min: 30, max: 33, n: 3, disturbed: 1, unit: 'ms' });
  assert.is(s.ratio('walk-cold', 'layerfs', 'kernel'), 31 / 11);
  const newer = old.map((x) => (x.impl === 'layerfs' && x.metric === 'time' ? { ...x, value: x.value / 2 } : x));
  const cmp = compareSamples(toCsv(old), toCsv(newer));
  const row = cmp.rows.find((r) => r.impl === 'layerfs')!;
  assert.is(row.old, 31);
  assert.is(row.new, 15.5);
  assert.is(row.change, 0.5);
  assert.is(row.newRatio, 15.5 / 11);
  assert.not.ok(row.withinSpread);
  assert.ok(cmp.rows.find((r) => r.impl === 'kernel')!.withinSpread);
  assert.throws(() => parseCsv('a,b\n1,2\n', 'x.csv'), /x.csv: not a layerfs bench results.csv/);
});

test('chart.svg is well-formed XML with a bar per implementation and workload, log scale around 1x', () => {
  const samples = ['a', 'b', 'c'].flatMap((w, k) => [sample(w, 'kernel', 0, 10), sample(w, 'layerfs', 0, 10 * 3 ** (k - 1)), sample(w, 'fuse-overlayfs', 0, 25)]);
  samples.push(sample('d', 'kernel', 0, 1)); // layerfs and fuse-overlayfs missing: no bar, a note
  const dir = temp();
  const file = path.join(dir, 'chart.svg');
  fs.writeFileSync(file, renderChart({
    title: 'a <test> & "chart"', baseline: 'kernel', impls: ['layerfs', 'kernel', 'fuse-overlayfs'], summaries: new Summaries(samples),
    workloads: ['a', 'b', 'c', 'd'].map((id) => ({ id, title: `workload ${id} <&>` })),
  }));
  const svg = parseSvg(file);
  assert.equal(svg.workloads, ['a', 'b', 'c', 'd']);
  assert.equal(svg.bars, { layerfs: 3, 'fuse-overlayfs': 3 });
  assert.ok(svg.tags.title >= 1 && svg.tags.text > 10 && svg.tags.line > 3);
  const text = fs.readFileSync(file, 'utf8');
  for (const label of ['0.33x', '1.00x', '3.00x', '2.50x', 'not measured']) assert.ok(text.includes(label), label);
});

let run: { dir: string; results: BenchResults; csv: Sample[]; stdout: string } | null = null;

test('layerfs bench --quick at a tiny scale: a sample for every workload and implementation that can run, report, chart', () => {
  const dir = temp();
  const out = path.join(dir, 'out');
  const t0 = Date.now();
  // Containers (podman-*) are test/podman's business, not this quick run's.
  const r = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--scale', '0.01', '--workloads', '^(?!podman)', '--out', out, '--scratch', path.join(dir, 'scratch')], {
    encoding: 'utf8', timeout: 10 * 60_000,
  });
  assert.is(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
  const csv = parseCsv(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'));
  run = { dir: out, results, csv, stdout: r.stdout };
  process.stderr.write(`  (layerfs bench --quick --scale 0.01: ${((Date.now() - t0) / 1000).toFixed(0)} s, ${csv.length} samples)\n`);
  const impls = results.impls.map((i) => i.name);
  assert.ok(impls.includes('layerfs') && impls.includes('layerfs-kernel-opens'), impls.join(','));
  if (process.getuid?.() === 0) assert.ok(impls.includes('kernel') && impls.includes('kernel-metacopy') && impls.includes('kernel-volatile'), impls.join(','));
  assert.equal(results.skipped.filter((l) => l.includes('failed')), []);
  assert.ok(results.workloads.length >= 16, results.workloads.map((w) => w.id).join(','));
  for (const w of results.workloads) {
    for (const impl of impls) {
      const rows = csv.filter((s) => s.workload === w.id && s.impl === impl && s.metric === 'time');
      assert.ok(rows.length >= 1, `no sample for ${w.id} on ${impl}`);
      assert.ok(rows.every((s) => Number.isFinite(s.value) && s.value >= 0 && s.unit === w.unit), `${w.id} ${impl}`);
      if (impl.startsWith('layerfs') || impl === 'fuse-overlayfs') {
        assert.ok(csv.some((s) => s.workload === w.id && s.impl === impl && s.metric === 'server-peak-rss' && s.value > 1), `rss ${w.id} ${impl}`);
      }
    }
  }
  // What every implementation agreed on (the run fails a sample that disagrees).
  assert.is(results.witnesses['readdir-first'], 100);
  assert.is(results.witnesses['lookup-bottom'], 20);
  assert.is(results.witnesses['copyup-append'], 10 * 2 ** 20 + 1);
  assert.ok((results.witnesses['walk-cold'] as number) > 200);
  assert.ok(fs.readFileSync(path.join(out, 'results.csv'), 'utf8').startsWith('workload,metric,implementation,round,value,unit,disturbed,drops\n'));
  const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
  for (const s of ['# layerfs bench', '## Time', '![', 'chart.svg', 'layerfs bench --quick --scale 0.01', ...impls.map((i) => `\`${i}\``)]) assert.ok(report.includes(s), s);
  const svg = parseSvg(path.join(out, 'chart.svg'));
  assert.equal(svg.workloads, results.workloads.map((w) => w.id));
  for (const impl of impls.filter((i) => i !== results.baseline)) assert.is(svg.bars[impl], results.workloads.length, `bars of ${impl}`);
  assert.ok(r.stdout.includes('| workload') && r.stdout.includes('results:'), r.stdout);
});

test('layerfs bench --compare on two results.csv files', () => {
  if (run === null) return assert.unreachable('the bench run above failed');
  const csv = path.join(run.dir, 'results.csv');
  const other = path.join(run.dir, 'other.csv');
  fs.writeFileSync(other, toCsv(run.csv.map((s) => (s.impl === 'layerfs' ? { ...s, value: s.value * 2 } : s))));
  const r = spawnSync(process.execPath, [CLI, 'bench', '--compare', csv, other], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.ok(lines.some((l) => l.startsWith('| walk-cold ') && l.includes('| layerfs ') && l.includes('2.00x')), r.stdout);
  assert.ok(lines.some((l) => l.startsWith('| walk-cold ') && l.includes('| layerfs-kernel-opens ') && l.includes('1.00x')), r.stdout);
  const bad = spawnSync(process.execPath, [CLI, 'bench', '--compare', csv, path.join(run.dir, 'missing.csv')], { encoding: 'utf8' });
  assert.is(bad.status, 1);
  assert.ok(/^layerfs: .*missing\.csv/.test(bad.stderr) && !bad.stderr.includes('    at '), bad.stderr);
});

test('--image: an image\'s layers from the store replace the tree; a missing image or store is one clear line', async () => {
  const dir = temp();
  let storeMod: typeof import('../../lib/image/store/store') | null = null;
  try {
    storeMod = require('../../lib/image/store/store');
  } catch {
    storeMod = null;
  }
  const base = [CLI, 'bench', '--quick', '--scale', '0.01', '--workloads', '^walk-cold$', '--scratch', dir, '--json'];
  if (storeMod === null) {
    const r = spawnSync(process.execPath, [...base, '--impls', '^layerfs$', '--image', 'localhost/x:1', '--out', path.join(dir, 'o')], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /--image: the image store \(lib\/image\/store\) is not part of this build/);
    assert.not.ok(r.stderr.includes('    at '), r.stderr);
  } else {
    const { tarLayer, writeOciLayout } = require('../image/helpers') as typeof import('../image/helpers');
    const [bottom, top, layout, root] = ['bottom', 'top', 'layout', 'store'].map((n) => path.join(dir, n));
    fs.mkdirSync(path.join(bottom, 'a'), { recursive: true });
    for (let i = 1; i <= 5; i++) fs.writeFileSync(path.join(bottom, 'a', String(i)), String(i));
    fs.mkdirSync(path.join(top, 'a'), { recursive: true });
    fs.writeFileSync(path.join(top, 'a', '6'), '6');
    fs.writeFileSync(path.join(top, 'a', '.wh.1'), ''); // OCI whiteout: a/1 is gone
    writeOciLayout(layout, 't', [tarLayer(bottom, path.join(dir, 'b'), 'none'), tarLayer(top, path.join(dir, 't'), 'none')]);
    const store = await storeMod.Store.open({ root });
    await store.import(`oci:${layout}:t`, 'localhost/bench:1');
    store.close();
    const env = { ...process.env, LAYERFS_ROOT: root };
    const impls = process.getuid?.() === 0 ? '^(layerfs|kernel|fuse-overlayfs)$' : '^layerfs$';
    const r = spawnSync(process.execPath, [...base, '--impls', impls, '--image', 'localhost/bench:1', '--out', path.join(dir, 'o')], { encoding: 'utf8', timeout: 120_000, env });
    assert.is(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as BenchResults;
    assert.equal(json.skipped.filter((l) => l.includes('failed')), []);
    assert.is(json.witnesses['walk-cold'], 6, 'a, a/2..a/6 through every implementation');
    const missing = spawnSync(process.execPath, [...base, '--impls', '^layerfs$', '--image', 'localhost/nothing:1', '--out', path.join(dir, 'o2')], { encoding: 'utf8', timeout: 120_000, env });
    assert.is(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /^layerfs: image "localhost\/nothing:1" not found$/m);
  }
});

test('an --impl that is not installed: one line, and the run goes on (--json on stdout)', () => {
  const dir = temp();
  const m = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--scale', '0.01', '--workloads', '^lookup-top$', '--impls', '^layerfs$',
    '--impl', 'nope=/nonexistent/mount-prog -f', '--json', '--out', path.join(dir, 'o2'), '--scratch', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stderr, /nope: not measured: \/nonexistent\/mount-prog not found/);
  const json = JSON.parse(m.stdout) as BenchResults;
  assert.equal(json.impls.map((i) => i.name), ['layerfs']);
  assert.ok(json.samples.some((s) => s.workload === 'lookup-top' && s.metric === 'time' && s.value > 0));
  assert.ok(fs.readFileSync(path.join(dir, 'o2', 'results.csv'), 'utf8').includes('lookup-top,time,layerfs,1,'));
});

test('--layers: the user\'s directories replace the tree, and every implementation must see the same entries', () => {
  const dir = temp();
  const [top, bottom] = ['top', 'bottom'].map((n) => path.join(dir, n));
  for (let i = 0; i < 30; i++) {
    fs.mkdirSync(path.join(bottom, `d${i % 3}`), { recursive: true });
    fs.writeFileSync(path.join(bottom, `d${i % 3}`, `f${i}`), 'b');
  }
  fs.mkdirSync(path.join(top, 'd0'), { recursive: true });
  fs.writeFileSync(path.join(top, 'd0', 'new'), 't');
  const impls = process.getuid?.() === 0 ? '^(layerfs|kernel)$' : '^layerfs$';
  const r = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--scale', '0.01', '--workloads', '^walk-cold$', '--impls', impls,
    '--layers', `${top}:${bottom}`, '--json', '--out', path.join(dir, 'o'), '--scratch', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as BenchResults;
  assert.equal(json.skipped.filter((l) => l.includes('failed')), []);
  assert.is(json.samples.filter((s) => s.metric === 'time').length, json.impls.length);
  assert.is(json.witnesses['walk-cold'], 3 + 30 + 1, 'entries walked');
});

test.run();
