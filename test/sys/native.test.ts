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
