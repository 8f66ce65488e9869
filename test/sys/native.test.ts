import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const LIB = path.join(__dirname, '..', '..', 'lib');

function runWithoutAddon(code: string) {
  return spawnSync(process.execPath, ['-e', code], {
    encoding: 'utf8',
    env: { ...process.env, LAYERFS_NATIVE_ADDON: '/nonexistent/layerfs_native.node', LIB },
  });
}

test('importing layerfs does not load the addon: errors and types import where it is not built', () => {
  const r = runWithoutAddon(`const l = require(process.env.LIB);
    console.log(typeof l.ConfigError, typeof l.mount, typeof l.Overlay);`);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'function function function');
});

test('the first call that needs the addon says it is not built, naming the file', () => {
  const r = runWithoutAddon(`const sys = require(process.env.LIB + '/sys');
    try { sys.openat(sys.AT.FDCWD, '/', 0); console.log('no error'); } catch (e) { console.log(e.message); }`);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /layerfs native addon not built: run npm install \(loading \/nonexistent\/layerfs_native.node failed/);
});

test('an addon built from older sources is refused with a message, not used with missing constants', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-abi-'));
  try {
    const stale = path.join(dir, 'stale.js'); // stands in for a .node built before the last export change
    fs.writeFileSync(stale, 'module.exports = { O: { RDONLY: 0 }, strerror: () => "" };');
    const r = spawnSync(process.execPath, ['-e', `const sys = require(process.env.LIB + '/sys');
      try { sys.O.ACCMODE; console.log('no error'); } catch (e) { console.log(e.message); }`], {
      encoding: 'utf8', env: { ...process.env, LAYERFS_NATIVE_ADDON: stale, LIB },
    });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /layerfs native addon is out of date \(.*stale\.js has ABI 1, these sources need \d+\): run npm run build:native/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('once loaded, functions and constants are plain own properties', async () => {
  const { native, loadNative } = await import('../../lib/sys/native');
  const sys = await import('../../lib/sys');
  assert.is(sys.O.ACCMODE, 3);
  assert.type(native.openat, 'function');
  assert.ok(Object.prototype.hasOwnProperty.call(native, 'openat'));
  assert.is(native.openat, loadNative().openat);
  assert.ok(Object.prototype.hasOwnProperty.call(sys.O, 'RDONLY'));
});

test.run();
