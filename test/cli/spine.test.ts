/**
 * The options spine (lib/options.ts) against everything derived from it: the -o parser, `--help`,
 * the option tables of docs/cli.md and docs/api.md, the Environment table (every environment
 * variable lib/ and native-bindings/src read), and the library's checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliForms, cliSyntax, ENVIRONMENT, OPTIONS, optionProblem } from '../../lib/options';
import { parseMountArgs, UsageError } from '../../lib/cli/options';
import { mountOptionsOf } from '../../lib/cli/serve';
import { librarySpecs } from '../../lib/options';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');

test('docs/cli.md and docs/api.md option tables are the spine (node scripts/options-docs.js rewrites them)', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'options-docs.js'), '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('--help lists every -o form of the spine, opens=, writeback=, acl and xattr_permissions among them', () => {
  const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  for (const { form } of cliForms()) assert.ok(help.includes(cliSyntax(form)), `--help lacks ${cliSyntax(form)}`);
  for (const name of ['opens=', 'writeback=', ' acl', 'xattr_permissions=', 'transport=']) assert.ok(help.includes(name), name);
});

test('every -o form parses to what the spine says, and refuses a value it does not list', () => {
  const base = ['lowerdir=/a'];
  for (const { form } of cliForms()) {
    if ('set' in form) {
      const m = parseMountArgs(['-o', [...base, form.name].join(','), '/m']) as unknown as Record<string, unknown>;
      for (const [field, value] of Object.entries(form.set)) assert.equal(m[field], value, `${form.name}: ${field}`);
    } else if ('values' in form) {
      for (const [text, value] of Object.entries(form.values)) {
        const m = parseMountArgs(['-o', [...base, `${form.name}=${text}`].join(','), '/m']) as unknown as Record<string, unknown>;
        assert.equal(m[form.field], value, `${form.name}=${text}`);
      }
      assert.throws(() => parseMountArgs(['-o', [...base, `${form.name}=bogus`].join(','), '/m']),
        (e: Error) => e instanceof UsageError && e.message.startsWith(`${form.name}=bogus: expected `), form.name);
    }
    if (!('set' in form)) {
      assert.throws(() => parseMountArgs(['-o', [...base, form.name].join(','), '/m']),
        (e: Error) => e instanceof UsageError && e.message.includes(`${form.name} needs a value`), `${form.name} without a value`);
    }
  }
});

test('every -o form has one spec; every library option of the mount layer that has -o forms reaches mount()', () => {
  const names = cliForms().map(({ form }) => form.name);
  assert.equal(names.length, new Set(names).size, 'a -o name defined twice');
  const keys = OPTIONS.filter((s) => s.key !== null).map((s) => s.key);
  assert.equal(keys.length, new Set(keys).size, 'a library option defined twice');
  for (const s of OPTIONS) assert.ok(s.summary.length > 0 && s.summary.length < 200, `${s.key}: a summary line`);
});

test('a command line reaches mount() as library options the spine knows, each with its value', () => {
  const m = parseMountArgs(['-o', 'lowerdir=/a:/b,upperdir=/u,workdir=/w,ro,volatile,userxattr,redirect_dir=off,metacopy=off,opens=kernel,passthrough=off,'
    + 'writeback=1,noacl,allow_other,uidmapping=0:1000:1,gidmapping=0:1000:1,squash_to_uid=5,squash_to_gid=6,xattr_permissions=2,transport=fuse', 'src', '/m']);
  const o = mountOptionsOf(m, () => undefined) as unknown as Record<string, unknown>;
  const known = librarySpecs('engine', 'mount');
  for (const key of Object.keys(o)) assert.ok(known.has(key), `${key} is not an option of mount()`);
  assert.equal(
    { ...o, debug: undefined, log: undefined },
    {
      lower: ['/a', '/b'], upper: '/u', work: '/w', mountpoint: '/m', readOnly: true, volatile: true, userxattr: true, redirectFollow: false,
      metacopy: false, opens: 'kernel', passthrough: false, writeback: true, posixAcl: false, allowOther: true,
      uidmap: [{ container: 0, host: 1000, length: 1 }], gidmap: [{ container: 0, host: 1000, length: 1 }], squashUid: 5, squashGid: 6,
      xattrPermissions: 2, transport: 'fuse', fsname: 'src', debug: undefined, log: undefined,
    },
  );
  // not given: the server's defaults (userxattr: on when not root)
  const plain = mountOptionsOf(parseMountArgs(['-o', 'lowerdir=/a', '/m']), () => undefined);
  assert.is(plain.userxattr, undefined);
  assert.is(plain.fsname, 'layerfs');
});

test('generic checks: precise messages naming the option', () => {
  assert.is(optionProblem('opens', { kind: 'choice', values: ['kernel', 'server', 'auto'] }, 'x'), `opens must be 'kernel', 'server' or 'auto', got "x"`);
  assert.is(optionProblem('posixAcl', { kind: 'choice', values: [true, false, 'auto'] }, 1), `posixAcl must be true, false or 'auto', got 1`);
  assert.is(optionProblem('warmUp', { kind: 'bool' }, 'yes'), 'warmUp must be true or false, got "yes"');
  assert.is(optionProblem('cache.nodes', { kind: 'positive-int' }, 0), 'cache.nodes must be a positive integer, got 0');
  assert.is(optionProblem('log', { kind: 'function' }, 'x'), 'log must be a function');
  assert.match(optionProblem('uidmap', { kind: 'idmap' }, [{ container: 0, host: 1000 }]) ?? '', /^uidmap must be an array of \{ container, host, length \}/);
  assert.is(optionProblem('uidmap', { kind: 'idmap' }, [{ container: 0, host: 1000, length: 1 }]), null);
  assert.is(optionProblem('squashUid', { kind: 'uint' }, -1), 'squashUid must be a non-negative integer, got -1');
});

/** LAYERFS_* names read in these files: process.env.X, process.env[X] and getenv("X"). */
function envReads(dir: string, exts: string[]): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (exts.some((x) => e.name.endsWith(x))) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/(?:process\.env\.|process\.env\[['"]|getenv\(")(LAYERFS_[A-Z0-9_]+)/g)) out.add(m[1]);
      }
    }
  };
  walk(dir);
  return out;
}

test('every environment variable lib/ and the addon read is in the Environment table, and no other', () => {
  const read = new Set([...envReads(path.join(ROOT, 'lib'), ['.ts']), ...envReads(path.join(ROOT, 'native-bindings', 'src'), ['.c'])]);
  const documented = new Set(ENVIRONMENT.map((e) => e.name));
  for (const name of read) assert.ok(documented.has(name), `${name} is read but not in ENVIRONMENT (lib/options.ts)`);
  for (const name of documented) assert.ok(read.has(name), `${name} is documented but nothing reads it`);
});

test.run();
