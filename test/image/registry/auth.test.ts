/**
 * Authentication against real registries: htpasswd (Basic) and a token server (Bearer, JWTs the
 * registry verifies), anonymous and with credentials from an auth file or `login`; challenges
 * parsed; tokens cached per scope; credentials never in messages.
 */
import { test } from 'uvu';
import { testIf } from '../../helpers/skip';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../../lib/image/store/store';
import { pullImage } from '../../../lib/image/registry/pull';
import { DockerSource } from '../../../lib/image/registry/source';
import { parseChallenge } from '../../../lib/image/registry/auth';
import { findCredentials, saveCredentials } from '../../../lib/image/registry/credentials';
import { login } from '../../../lib/image/registry/login';
import { parseReference } from '../../../lib/image/registry/reference';
import { registryMissing, startRegistry, TestRegistry } from '../../helpers/registry';
import { buildLayout, skopeoPush } from '../../helpers/ref-images';

const can = registryMissing === null;
const t = testIf(test, registryMissing);

let work = '';
let basic: TestRegistry;
let token: TestRegistry;
let L = '';

// set-up only where the tests run (they are skipped, and counted, without a registry)
if (can) test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-auth-'));
  [basic, token] = await Promise.all([startRegistry('basic'), startRegistry('token')]);
  L = buildLayout(work);
  await skopeoPush(L, 'v1', basic.host, 'test/a:v1', { workdir: work, creds: `${basic.user}:${basic.password}` });
  await skopeoPush(L, 'v1', token.host, 'test/a:v1', { workdir: work, creds: `${token.user}:${token.password}` });
});

test.after(async () => {
  await basic?.stop();
  await token?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const store = async () => Store.open({ root: fs.mkdtempSync(path.join(work, 'store-')) });
const emptyAuth = () => {
  const f = path.join(work, `empty-${Math.random()}.json`);
  fs.writeFileSync(f, '{}');
  return f;
};

test('references: Docker Hub defaults, hosts, tags, digests', () => {
  assert.equal(parseReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' });
  assert.equal(parseReference('docker://quay.io/a/b:1.2'), { registry: 'quay.io', repository: 'a/b', tag: '1.2' });
  assert.equal(parseReference('localhost:5000/x@sha256:' + 'a'.repeat(64)), { registry: 'localhost:5000', repository: 'x', digest: 'sha256:' + 'a'.repeat(64) });
  assert.equal(parseReference('user/app:v1'), { registry: 'docker.io', repository: 'user/app', tag: 'v1' });
  assert.throws(() => parseReference('Bad/Name'), /invalid image reference/);
});

test('challenges: Bearer with quoted params, Basic, several at once', () => {
  assert.equal(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
  });
  assert.equal(parseChallenge('Basic realm="x, y"'), { scheme: 'basic', params: { realm: 'x, y' } });
  assert.is(parseChallenge('Basic realm="r", Bearer realm="t",service=s')?.scheme, 'bearer');
  assert.is(parseChallenge(undefined), undefined);
});

test('credentials: auth.json and docker config, the longest key wins, helpers skipped when absent', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-creds-'));
  try {
    const env = { HOME: dir, XDG_RUNTIME_DIR: path.join(dir, 'run') } as NodeJS.ProcessEnv;
    fs.mkdirSync(path.join(dir, '.docker'));
    fs.writeFileSync(path.join(dir, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:hubpw').toString('base64') } } }));
    fs.mkdirSync(path.join(dir, 'run', 'containers'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'run', 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'reg.example': { auth: Buffer.from('u1:p1').toString('base64') }, 'reg.example/team': { auth: Buffer.from('u2:p:2').toString('base64') } } }),
    );
    assert.equal(findCredentials('docker.io', 'library/alpine', { env }), { username: 'hub', password: 'hubpw' });
    assert.equal(findCredentials('reg.example', 'other/x', { env }), { username: 'u1', password: 'p1' });
    assert.equal(findCredentials('reg.example', 'team/x', { env }), { username: 'u2', password: 'p:2' });
    assert.is(findCredentials('nowhere.example', 'x', { env }), undefined);
    const f = saveCredentials('new.example:5000', { username: 'me', password: 'secret' }, { env });
    assert.is(fs.statSync(f).mode & 0o777, 0o600);
    assert.equal(findCredentials('new.example:5000', 'x', { env }), { username: 'me', password: 'secret' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('basic auth: anonymous is refused in one line, credentials from an auth file pull', async () => {
  const s = await store();
  try {
    await pullImage(s, `${basic.host}/test/a:v1`, { authFile: emptyAuth(), retries: 0 });
    assert.unreachable('anonymous');
  } catch (err) {
    assert.is((err as { code: string }).code, 'UNAUTHORIZED');
    assert.match((err as Error).message, /^unauthorized: .*layerfs login 127\.0\.0\.1:\d+/);
  }
  const authFile = path.join(work, 'basic-auth.json');
  saveCredentials(basic.host, { username: basic.user, password: basic.password }, { authFile });
  const r = await pullImage(s, `${basic.host}/test/a:v1`, { authFile });
  assert.is(r.copied, 2);
  s.close();
});

t('basic auth: wrong password refused without printing it; login checks before it stores', async () => {
  const authFile = path.join(work, 'login.json');
  try {
    await login(basic.host, { username: basic.user, password: 'wrong-secret-xyz' }, { authFile });
    assert.unreachable('wrong password');
  } catch (err) {
    assert.is((err as { code: string }).code, 'UNAUTHORIZED');
    assert.not.match((err as Error).message, /wrong-secret-xyz/);
  }
  assert.not.ok(fs.existsSync(authFile), 'nothing stored on a refused login');
  await login(basic.host, { username: basic.user, password: basic.password }, { authFile });
  assert.is(fs.statSync(authFile).mode & 0o777, 0o600);
  assert.equal(findCredentials(basic.host, 'test/a', { authFile }), { username: basic.user, password: basic.password });
});

t('bearer: anonymous pull gets a pull token; one token per scope, reused for every request', async () => {
  const s = await store();
  const before = token.token!.requests.length;
  const src = new DockerSource(`${token.host}/test/a:v1`, { authFile: emptyAuth() });
  await src.getManifest();
  await src.getManifest();
  assert.is(src.client.auth.tokenRequests, 1, 'the token is cached for its scope');
  await src.close();
  const r = await pullImage(s, `${token.host}/test/a:v1`, { authFile: emptyAuth() });
  assert.is(r.copied, 2);
  const asked = token.token!.requests.slice(before);
  assert.ok(asked.every((q) => q.user === undefined && q.scopes.join() === 'repository:test/a:pull'), JSON.stringify(asked));
  s.close();
});

t('bearer: a token that expires is fetched again', async () => {
  const saved = token.token!.expiresIn;
  token.token!.expiresIn = 5; // the client keeps a margin of a quarter of the lifetime
  try {
    const src = new DockerSource(`${token.host}/test/a:v1`, { authFile: emptyAuth() });
    await src.getManifest();
    await new Promise((r) => setTimeout(r, 4200));
    await src.getManifest();
    assert.is(src.client.auth.tokenRequests, 2);
    await src.close();
  } finally {
    token.token!.expiresIn = saved;
  }
});

t('bearer: credentials are sent to the token server; a wrong password is one line', async () => {
  const authFile = path.join(work, 'token-auth.json');
  await login(token.host, { username: token.user, password: token.password }, { authFile });
  const src = new DockerSource(`${token.host}/test/a:v1`, { authFile });
  await src.getManifest();
  assert.is(token.token!.requests.at(-1)!.user, token.user);
  await src.close();
  try {
    await login(token.host, { username: token.user, password: 'nope-secret' }, { authFile: path.join(work, 'x.json') });
    assert.unreachable('wrong password');
  } catch (err) {
    assert.match((err as Error).message, /^unauthorized: /);
    assert.not.match((err as Error).message, /nope-secret/);
  }
});

test.run();
