/**
 * mount()'s option checks (derived from the options spine, lib/options.ts): a bad option is a
 * ConfigError naming it, raised before any server thread or process starts (so no mount is made here).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../lib/engine';
import { mount } from '../../lib/mount';
import type { MountOptions } from '../../lib/mount';
import { tempDir, removeTree } from '../helpers/layers';
import { librarySpecs } from '../../lib/options';

let base = '';
test.before(() => {
  base = tempDir();
  for (const d of ['l0', 'mnt']) fs.mkdirSync(path.join(base, d));
});
test.after(() => removeTree(base));

async function refused(extra: Record<string, unknown>, option: string, message: RegExp): Promise<void> {
  const options = { lower: [path.join(base, 'l0')], mountpoint: path.join(base, 'mnt'), ...extra } as unknown as MountOptions;
  try {
    const m = await mount(options);
    await m.unmount();
  } catch (err) {
    assert.instance(err, ConfigError, `${JSON.stringify(extra)}: ${(err as Error).message}`);
    assert.is((err as ConfigError).option, option);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`${JSON.stringify(extra)} was accepted`);
}

test('unknown options, and bad values of the mount\'s own options, by name', async () => {
  await refused({ colour: 'red' }, 'colour', /^unknown option "colour"$/);
  await refused({ 'cache.nodes': 1 }, 'cache.nodes', /^unknown option/);
  await refused({ posixAcl: 'yes' }, 'posixAcl', /^posixAcl must be true, false or 'auto', got "yes"$/);
  await refused({ passthrough: 1 }, 'passthrough', /^passthrough must be true, false or 'auto', got 1$/);
  await refused({ opens: 'client' }, 'opens', /^opens must be 'kernel', 'server' or 'auto', got "client"$/);
  await refused({ writeback: 'always' }, 'writeback', /^writeback must be true, false or 'unless-passthrough'/);
  await refused({ xattrPermissions: 3 }, 'xattrPermissions', /^xattrPermissions must be 0, 1 or 2, got 3$/);
  await refused({ transport: 'fuse2' }, 'transport', /^transport must be 'fuse' or 'fuse-native', got "fuse2"$/);
  await refused({ warmUp: 'yes' }, 'warmUp', /^warmUp must be true or false/);
  await refused({ readOnly: 1 }, 'readOnly', /^readOnly must be true or false/);
  await refused({ uidmap: [{ container: 0, host: 1000 }] }, 'uidmap', /^uidmap must be an array of \{ container, host, length \}/);
  await refused({ squashGid: -1 }, 'squashGid', /^squashGid must be a non-negative integer/);
  await refused({ fsname: '' }, 'fsname', /^fsname must be a non-empty string/);
  await refused({ debug: 'stderr' }, 'debug', /^debug must be a function$/);
  await refused({ log: 1 }, 'log', /^log must be a function$/);
});

test('the engine\'s options are checked by the engine\'s rules before any thread starts', async () => {
  await refused({ volatile: 'yes' }, 'volatile', /^volatile must be true or false/);
  await refused({ cache: { dirFds: 0 } }, 'cache.dirFds', /^cache.dirFds must be a positive integer/);
  await refused({ lower: [path.join(base, 'missing')] }, 'lower[0]', /does not exist/);
  await refused({ mountpoint: '' }, 'mountpoint', /^mountpoint must be a non-empty path$/);
  await refused({ opens: 'kernel', passthrough: true }, 'opens', /passthrough needs opens=server/);
});

test('the spine and the MountOptions type name the same options', () => {
  // a property added to MountOptions (or OverlayOptions) must be added here, then to the spine
  const typed = {
    lower: true, upper: true, work: true, userxattr: true, redirectFollow: true, volatile: true, metacopy: true, cache: true, mountpoint: true,
    passthrough: true, opens: true, allowOther: true, posixAcl: true, writeback: true, readOnly: true, fsname: true, debug: true, log: true,
    uidmap: true, gidmap: true, squashUid: true, squashGid: true, xattrPermissions: true, warmUp: true, transport: true,
  } satisfies Record<keyof Required<MountOptions>, true>;
  const spine = [...librarySpecs('engine', 'mount').keys()].filter((k) => !k.includes('.'));
  assert.equal(spine.sort(), Object.keys(typed).sort());
});

test.run();
