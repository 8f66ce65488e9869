/**
 * A test that cannot run here is reported skipped (uvu's test.skip, counted), never passed by
 * returning early. Each test file with such tests is run here with its need pretended missing
 * (LAYERFS_TEST_PRETEND_MISSING, test/helpers/skip.ts): the tests that need it must be counted
 * skipped, with a line saying what they need, and the rest must still pass. And no test file
 * holds the early-return forms this replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const DIST_TEST = path.join(__dirname, '..');
const UVU = path.join(ROOT, 'node_modules', 'uvu', 'bin.js');

interface Counts { total: number; passed: number; skipped: number; status: number | null; stdout: string }

function runFile(folder: string, file: string, pretend: string): Counts {
  const env: NodeJS.ProcessEnv = { ...process.env, LAYERFS_TEST_PRETEND_MISSING: pretend, NO_COLOR: '1', FORCE_COLOR: '0' };
  const r = spawnSync(process.execPath, [UVU, path.join(DIST_TEST, folder), `^${file}\\.test\\.js$`],
    { cwd: ROOT, encoding: 'utf8', env, timeout: 5 * 60_000, killSignal: 'SIGTERM' });
  const num = (label: string) => Number(r.stdout.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);
  return { total: num('Total'), passed: num('Passed'), skipped: num('Skipped'), status: r.status, stdout: r.stdout + r.stderr };
}

/** folder, file, the need pretended missing, how many of the file's tests need it. */
const CASES: [string, string, string, number][] = [
  ['fuse', 'mount', 'root', 6],
  ['mount', 'unprivileged', 'fusermount3', 3],
  ['mount', 'deep', 'root', 6],
  ['engine', 'copy-up', 'mkfs.xfs', 1],
  ['engine', 'config', '/dev/shm on another filesystem', 1],
  ['sys', 'xattr', 'tmpfs', 2],
  ['sys', 'path-ops', 'rename-whiteout', 1],
];

for (const [folder, file, need, count] of CASES) {
  test(`${folder}/${file}: without ${need}, ${count} test(s) counted skipped, the rest pass`, () => {
    const r = runFile(folder, file, need);
    assert.is(r.skipped, count, r.stdout);
    assert.is(r.passed, r.total, r.stdout);
    assert.is(r.status, 0, r.stdout);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('  skipped: '));
    assert.is(lines.length, count, r.stdout);
    for (const l of lines) assert.match(l, new RegExp(`needs .*${need.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });
}

function testSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testSources(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []);
}

test('no test file passes by returning early or by an empty test named "skipped"', () => {
  const forms: [RegExp, string][] = [
    [/\bif \([^\n]*\) (?:return;|return console\.|\{[^}\n]*\breturn;? ?\})/, 'if (...) return;'],
    [/console\.log\(\s*[`'"]\s*\(skipped/, 'console.log("(skipped ...")'],
    [/\btest\(\s*[`'"][^`'"\n]*\(skipped/, 'a test named "(skipped ...)"'],
  ];
  const found: string[] = [];
  // (this file names the forms, in dist/test/meta/../../../test/meta)
  for (const file of testSources(path.join(ROOT, 'test')).filter((f) => !f.endsWith(path.join('meta', 'skips.test.ts')))) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const [re, what] of forms) if (re.test(line)) found.push(`${path.relative(ROOT, file)}:${i + 1}: ${what}: ${line.trim()}`);
    });
  }
  assert.equal(found, []);
});

test.run();
