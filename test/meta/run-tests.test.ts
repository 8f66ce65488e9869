/**
 * scripts/run-tests.js on test files of our own (LAYERFS_TEST_ROOT): its closing line counts
 * passes, failures and skips right, and LAYERFS_TEST_REQUIRE_ALL=1 (CI) fails a run with a skip.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../helpers/scratch';

const ROOT = path.join(__dirname, '..', '..', '..');
const RUN_TESTS = path.join(ROOT, 'scripts', 'run-tests.js');

/** Writes `folder/NAME.test.js` files (bodies of uvu tests) and runs run-tests.js on `folder`. */
function runOn(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): { status: number | null; closing: string; stderr: string } {
  const scratch = scratchDir('layerfs-meta-');
  try {
    fs.mkdirSync(path.join(scratch.dir, 'folder'));
    for (const [name, body] of Object.entries(files)) {
      fs.writeFileSync(path.join(scratch.dir, 'folder', `${name}.test.js`),
        `const { test } = require(${JSON.stringify(require.resolve('uvu'))});\n${body}\ntest.run();\n`);
    }
    const base: NodeJS.ProcessEnv = { ...process.env, LAYERFS_TEST_ROOT: scratch.dir };
    delete base.LAYERFS_TEST_REQUIRE_ALL; // CI sets it for the outer run
    const r = spawnSync(process.execPath, [RUN_TESTS, 'folder'], { cwd: ROOT, encoding: 'utf8', env: { ...base, ...env }, timeout: 60_000 });
    return { status: r.status, closing: r.stdout.trim().split('\n').pop() ?? '', stderr: r.stderr };
  } finally {
    scratch.remove();
  }
}

const PASS = "test('passes', () => {});";
const FAIL = (n: number) => `test('fails ${n}', () => { throw new Error('no ${n}'); });`;
const SKIP = "test.skip('cannot run here', () => {});";

test('the closing line counts failures right when tests were skipped too', () => {
  const r = runOn({ a: [PASS, FAIL(1), FAIL(2), SKIP].join('\n'), b: PASS });
  assert.is(r.closing, '2 passed, 2 failed, 1 skipped');
  assert.is(r.status, 1);
});

test('skips are counted in the closing line, also when there are none', () => {
  const some = runOn({ a: [PASS, SKIP, SKIP].join('\n') });
  assert.is(some.closing, '1 passed, 0 failed, 2 skipped');
  assert.is(some.status, 0, 'a skip is no failure by default');
  const none = runOn({ a: PASS });
  assert.is(none.closing, '1 passed, 0 failed, 0 skipped');
  assert.is(none.status, 0);
});

test('LAYERFS_TEST_REQUIRE_ALL=1: a run with a skipped test fails and says why', () => {
  const r = runOn({ a: [PASS, SKIP].join('\n') }, { LAYERFS_TEST_REQUIRE_ALL: '1' });
  assert.is(r.closing, '1 passed, 0 failed, 1 skipped');
  assert.is(r.status, 1);
  assert.match(r.stderr, /1 skipped, and LAYERFS_TEST_REQUIRE_ALL=1 wants every test to run here/);
  const all = runOn({ a: PASS }, { LAYERFS_TEST_REQUIRE_ALL: '1' });
  assert.is(all.status, 0);
});

test('a test file that dies before its tests end counts as a failure', () => {
  const r = runOn({ a: `${PASS}\ntest('exits', () => process.exit(3));` });
  assert.is(r.status, 1);
  assert.match(r.closing, /^\d+ passed, [1-9]\d* failed, 0 skipped$/);
});

test.run();
