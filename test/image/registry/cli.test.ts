/**
 * The CLI against a real registry with basic auth: login (verified, stored 0600, password from
 * stdin), image pull (one line per layer off a terminal, the digest on stdout; -q), image push
 * (the digest), and a refused pull as one line with exit status 1. store.pull / store.push too.
 */
import { test } from 'uvu';
import { testIf } from '../../helpers/skip';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../../../lib/image/registry';
import { Store } from '../../../lib/image/store/store';
import { registryMissing, startRegistry, TestRegistry } from '../../helpers/registry';
import { buildLayout, skopeoPush, skopeoRaw } from '../../helpers/ref-images';

const can = registryMissing === null;
const t = testIf(test, registryMissing);
const CLI = path.join(__dirname, '..', '..', '..', 'lib', 'cli', 'main.js');

let work = '';
let reg: TestRegistry;
let digest = '';
let authFile = '';

function layerfs(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, LAYERFS_AUTH_FILE: authFile } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

// set-up only where the tests run (they are skipped, and counted, without a registry)
if (can) test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-regcli-'));
  authFile = path.join(work, 'auth.json');
  reg = await startRegistry('basic');
  const L = buildLayout(work);
  digest = await skopeoPush(L, 'v2', reg.host, 'test/cli:v2', { workdir: work, creds: `${reg.user}:${reg.password}` });
});

test.after(async () => {
  await reg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

t('pull before login: one line, exit 1', async () => {
  const r = await layerfs(['image', 'pull', '--root', path.join(work, 's0'), '--retries', '0', `${reg.host}/test/cli:v2`]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^layerfs: unauthorized: .*layerfs login/);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

t('login with --password-stdin, then pull (one line per layer) and push', async () => {
  const bad = await layerfs(['login', reg.host, '-u', reg.user, '--password-stdin'], 'wrong-pass-123\n');
  assert.is(bad.code, 1);
  assert.not.match(bad.stderr, /wrong-pass-123/);
  const ok = await layerfs(['login', reg.host, '-u', reg.user, '--password-stdin'], `${reg.password}\n`);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(fs.statSync(authFile).mode & 0o777, 0o600);
  assert.not.match(ok.stderr + ok.stdout, new RegExp(reg.password));
  const root = path.join(work, 's1');
  const pull = await layerfs(['image', 'pull', '--root', root, `docker://${reg.host}/test/cli:v2`]);
  assert.is(pull.code, 0, pull.stderr);
  assert.is(pull.stdout.trim(), digest);
  assert.is(pull.stderr.split('\n').filter((l) => /: pulled /.test(l)).length, 3, pull.stderr);
  const again = await layerfs(['image', 'pull', '-q', '--root', root, `${reg.host}/test/cli:v2`]);
  assert.is(again.stderr, '');
  assert.is(again.stdout.trim(), digest);
  const push = await layerfs(['image', 'push', '--root', root, `${reg.host}/test/cli:v2`, `${reg.host}/test/copy:1`]);
  assert.is(push.code, 0, push.stderr);
  assert.is(push.stdout.trim(), digest);
  assert.ok((await skopeoRaw(`${reg.host}/test/copy:1`, `${reg.user}:${reg.password}`)).length > 0);
  const out = await layerfs(['logout', reg.host]);
  assert.is(out.code, 0);
});

t('store.pull and store.push', async () => {
  const store = await Store.open({ root: path.join(work, 's2') });
  const creds = { username: reg.user, password: reg.password };
  const r = await store.pull(`${reg.host}/test/cli:v2`, { credentials: creds });
  assert.is(r.digest, digest);
  const p = await store.push(digest, `${reg.host}/test/api:1`, { credentials: creds });
  assert.is(p.digest, digest);
  store.close();
});

t('usage errors: bad --platform, bad --jobs', async () => {
  const a = await layerfs(['image', 'pull', '--platform', 'linux', 'x/y']);
  assert.is(a.code === 2 || a.code === 1, true);
  assert.match(a.stderr, /platform/);
  const b = await layerfs(['image', 'pull', '--jobs', '0', 'x/y']);
  assert.is(b.code, 2);
  assert.match(b.stderr, /--jobs/);
});

test.run();
