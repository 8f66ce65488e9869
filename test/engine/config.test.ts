import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, resolveConfig } from '../../lib/engine';
import { tempDir, removeTree } from '../helpers/layers';
import { testIf, unless } from '../helpers/skip';

function expectConfigError(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    const e = err as ConfigError;
    assert.is(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" should mention "${f}"`);
    return;
  }
  assert.unreachable('expected a ConfigError');
}

let base = '';
test.before(() => {
  base = tempDir();
  for (const d of ['l0', 'l1', 'upper', 'work', 'l0/inner']) fs.mkdirSync(path.join(base, d), { recursive: true });
  fs.writeFileSync(path.join(base, 'file'), 'x');
});
test.after(() => removeTree(base));

const p = (x: string) => path.join(base, x);

test('accepts lower only, and lower + upper + work', () => {
  const ro = resolveConfig({ lower: [p('l0'), p('l1')] });
  assert.equal(ro.lower, [p('l0'), p('l1')]);
  assert.is(ro.upper, null);
  const rw = resolveConfig({ lower: [p('l1')], upper: p('upper'), work: p('work') });
  assert.is(rw.upper, p('upper'));
  assert.is(rw.work, p('work'));
  assert.is(rw.userxattr, false);
});

test('resolves symlinked layer paths (podman passes overlay/l/ symlinks)', () => {
  fs.symlinkSync(p('l1'), p('link-to-l1'));
  try {
    assert.equal(resolveConfig({ lower: [p('link-to-l1')] }).lower, [p('l1')]);
  } finally {
    fs.unlinkSync(p('link-to-l1'));
  }
});

test('names a missing directory', () => {
  expectConfigError(() => resolveConfig({ lower: [p('nope')] }), 'ENOENT', 'lower[0]', p('nope'), 'does not exist');
  expectConfigError(() => resolveConfig({ lower: [p('l0')], upper: p('gone'), work: p('work') }), 'ENOENT', 'upper', 'does not exist');
});

test('names a path that is not a directory', () => {
  expectConfigError(() => resolveConfig({ lower: [p('l1'), p('file')] }), 'ENOTDIR', 'lower[1]', 'not a directory');
});

test('needs at least one lower, a work dir with upper, no work without upper', () => {
  expectConfigError(() => resolveConfig({ lower: [] }), 'EINVAL', 'lower');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], upper: p('upper') }), 'EINVAL', 'work');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], work: p('work') }), 'EINVAL', 'work given without upper');
});

test('refuses overlapping layers: upper inside lower, same dir twice, work inside upper', () => {
  expectConfigError(() => resolveConfig({ lower: [p('l0')], upper: p('l0/inner'), work: p('work') }), 'EINVAL', 'upper', 'is inside', 'lower[0]');
  expectConfigError(() => resolveConfig({ lower: [p('l1'), p('l1')] }), 'EINVAL', 'same directory');
  fs.mkdirSync(p('upper/w'), { recursive: true });
  expectConfigError(() => resolveConfig({ lower: [p('l1')], upper: p('upper'), work: p('upper/w') }), 'EINVAL', 'work', 'inside', 'upper');
});

/** /dev/shm is a tmpfs; the temp dir usually is not: then they are different devices. */
const shmElsewhere = unless('/dev/shm on another filesystem', fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev
  ? null : `needs /dev/shm on another filesystem than ${os.tmpdir()}`);

testIf(test, shmElsewhere)('refuses a work dir on another filesystem than upper', () => {
  const shm = fs.mkdtempSync('/dev/shm/layerfs-work-');
  try {
    assert.is.not(fs.statSync(shm).dev, fs.statSync(p('upper')).dev);
    expectConfigError(() => resolveConfig({ lower: [p('l1')], upper: p('upper'), work: shm }), 'EXDEV', 'work', 'same filesystem');
  } finally {
    removeTree(shm);
  }
});

test('refuses unknown options and bad values by name', () => {
  expectConfigError(() => resolveConfig({ lower: [p('l1')], colour: 'red' } as never), 'EINVAL', 'unknown option "colour"');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], userxattr: 'yes' } as never), 'EINVAL', 'userxattr');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], cache: { nodes: 0 } }), 'EINVAL', 'cache.nodes');
  expectConfigError(() => resolveConfig({ lower: 'l1' } as never), 'EINVAL', 'lower');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], cache: { nodez: 5 } } as never), 'EINVAL', 'unknown option "cache.nodez"');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], cache: 5 } as never), 'EINVAL', 'cache must be an object');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], 'cache.nodes': 5 } as never), 'EINVAL', 'unknown option "cache.nodes"');
  expectConfigError(() => resolveConfig({ lower: [p('l1')], mountpoint: '' }), 'EINVAL', 'mountpoint must be a non-empty path');
});

test('defaults come from the options spine', () => {
  const c = resolveConfig({ lower: [p('l1')] });
  assert.equal(
    { userxattr: c.userxattr, redirectFollow: c.redirectFollow, volatile: c.volatile, metacopy: c.metacopy, cache: c.cache },
    { userxattr: false, redirectFollow: true, volatile: false, metacopy: true, cache: { nodes: 8192, dirIndexNames: 250_000, dirFds: 1024 } },
  );
});

test.run();
