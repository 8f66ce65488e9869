/**
 * The package as its users see it, through package.json "exports": ESM (.mjs) and CommonJS (.cjs)
 * import the public names and none of the internal ones, without loading the addon; TypeScript with
 * `moduleResolution: node16` finds the types from an .mts and a .cts (tsc --noEmit), and refuses
 * the internal names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scratchDir } from '../helpers/scratch';

const ROOT = path.join(__dirname, '..', '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const PUBLIC = ['mount', 'Overlay', 'ConfigError', 'OverlayError', 'SysError', 'MAX_LOWER_LAYERS', 'ACL_ACCESS', 'ACL_DEFAULT',
  'Store', 'Container', 'copyImage', 'registerTransport', 'openSource', 'openDestination', 'ImageError', 'parseReference'];
const INTERNAL = ['LruMap', 'wantsWrite', 'OverlayNode', 'resolveConfig', 'startServer', 'OverlayFuseOps', 'openOverlay', 'toErrno', 'FileHandle', 'DirHandle'];

/** A user's project in a temp dir, with this package installed as node_modules/layerfs (a symlink). */
function project(files: Record<string, string>): { dir: string; remove: () => void } {
  const scratch = scratchDir('layerfs-package-test-');
  fs.mkdirSync(path.join(scratch.dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(scratch.dir, 'node_modules', 'layerfs'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(scratch.dir, name), text);
  return scratch;
}

function node(dir: string, file: string): { status: number | null; out: string; err: string } {
  // an addon that cannot load: importing the package must not need it
  const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env: { ...process.env, LAYERFS_NATIVE_ADDON: '/nonexistent/layerfs_native.node' } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const report = (names: string) => `
const pub = ${JSON.stringify(PUBLIC)}.filter((n) => typeof ${names}[n] === 'undefined');
const internal = ${JSON.stringify(INTERNAL)}.filter((n) => n in ${names});
console.log(JSON.stringify({ missing: pub, internal, config: new ${names}.ConfigError('EINVAL', 'x', 'm').code }));
`;

test('ESM and CommonJS import the public names, and no internal one, without loading the addon', () => {
  const p = project({
    'esm.mjs': `import * as layerfs from 'layerfs';\nimport { mount } from 'layerfs';\nif (typeof mount !== 'function') throw new Error('named import');\n${report('layerfs')}`,
    'cjs.cjs': `const layerfs = require('layerfs');\n${report('layerfs')}`,
  });
  try {
    for (const file of ['esm.mjs', 'cjs.cjs']) {
      const r = node(p.dir, file);
      assert.is(r.status, 0, `${file}: ${r.out}${r.err}`);
      assert.equal(JSON.parse(r.out), { missing: [], internal: [], config: 'EINVAL' }, file);
    }
  } finally {
    p.remove();
  }
});

test('TypeScript (moduleResolution node16) types the package from an .mts and a .cts; internal names are not exported', () => {
  const use = `
const options: MountOptions = { lower: ['/l'], mountpoint: '/m', opens: 'auto', transport: 'fuse' };
export async function run(): Promise<void> {
  const m: MountHandle = await mount(options);
  const s: ServerStats = await m.stats();
  void s.requests;
  const ov: Overlay = Overlay.open({ lower: ['/l'] });
  const e: DirEntry[] = ov.readdir('/');
  void e;
  try { Overlay.open({ lower: [] }); } catch (err) { if (err instanceof ConfigError) void err.option; }
  const store: typeof Store = Store;
  void store;
  // @ts-expect-error: a property that does not exist on MountOptions
  void ({ colour: 1 } satisfies MountOptions);
}
`;
  const imports = `import { mount, Overlay, ConfigError, Store } from 'layerfs';
import type { MountOptions, MountHandle, ServerStats, DirEntry } from 'layerfs';
// @ts-expect-error: internal, not exported
import { LruMap } from 'layerfs';
// @ts-expect-error: internal, not exported
import { resolveConfig } from 'layerfs';
// @ts-expect-error: internal, not exported
import { startServer } from 'layerfs';
void LruMap; void resolveConfig; void startServer;
`;
  const p = project({
    'esm.mts': imports + use,
    'cjs.cts': imports + use,
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true,
        typeRoots: [path.join(ROOT, 'node_modules', '@types')], types: ['node'],
      },
      files: ['esm.mts', 'cjs.cts'],
    }),
  });
  try {
    const r = spawnSync(process.execPath, [TSC, '-p', path.join(p.dir, 'tsconfig.json')], { cwd: p.dir, encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout + r.stderr);
  } finally {
    p.remove();
  }
});

test.run();
