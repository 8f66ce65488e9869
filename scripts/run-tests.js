#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with uvu, then prints one closing line
// "N passed, N failed, N skipped" so CI can read the result. Extra args narrow the run: a directory
// under dist/test (e.g. `engine`) or a file-name pattern.
// LAYERFS_TEST_REQUIRE_ALL=1 (CI: root, everything installed) fails the run when any test was
// skipped. LAYERFS_TEST_ROOT replaces dist/test (test/meta runs this script on test files of its own).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dir = path.join(process.env.LAYERFS_TEST_ROOT ?? path.join('dist', 'test'), process.argv[2] ?? '');
const pattern = `(${process.argv[3] ?? ''}).*\\.test\\.js$`;
const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const run = spawnSync(process.execPath, [uvu, dir, pattern], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  maxBuffer: 256 * 1024 * 1024,
  // A test that hangs must fail the run, not CI's clock: SIGTERM lets the test process detach its
  // mounts on the way out (test/helpers/mounts.ts).
  timeout: 20 * 60_000,
  killSignal: 'SIGTERM',
});
process.stdout.write(run.stdout ?? '');
process.stderr.write(run.stderr ?? '');
if (run.signal !== null && run.error?.code !== 'ETIMEDOUT') console.error(`\ntests: the test process died of ${run.signal}; the output so far is above`);
if (run.error?.code === 'ETIMEDOUT') console.error('\ntests: killed after 20 minutes (a test hung); the output so far is above');
// The summary is the last of each label: a failure's message may quote another run's output.
const num = (label) => Number([...(run.stdout ?? '').matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].pop()?.[1] ?? 0);
// uvu's Total counts the tests that ran (skips not included); a run that died early counts one failure.
const total = num('Total'), passed = num('Passed'), skipped = num('Skipped');
const failed = Math.max(0, total - passed) + (run.status !== 0 && total === passed ? 1 : 0);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
const requireAll = process.env.LAYERFS_TEST_REQUIRE_ALL === '1';
if (requireAll && skipped > 0) console.error(`tests: ${skipped} skipped, and LAYERFS_TEST_REQUIRE_ALL=1 wants every test to run here (each skip says what it needs, above)`);
process.exit(run.status === 0 && failed === 0 && total + skipped > 0 && !(requireAll && skipped > 0) ? 0 : 1);
