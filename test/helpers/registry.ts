/**
 * A real registry for tests: Debian's docker-registry on 127.0.0.1 at a random port, its config
 * and storage in a layerfs- temp dir, without auth, with htpasswd (basic) or with a token server
 * (bearer, JWTs signed by a key whose self-signed cert the registry trusts). Always stopped: by
 * stop(), and by the process's exit if a test forgets.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, KeyObject, sign } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTools } from './ref-images';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = fs.existsSync(REGISTRY_BIN) && fs.existsSync('/usr/bin/htpasswd');

/**
 * Why the registry round trips cannot run here (a registry, htpasswd, umoci and skopeo, which
 * build and check the images pushed), or null when they can: for testIf (helpers/skip.ts).
 */
export const registryMissing: string | null = haveRegistry && haveTools ? null : 'needs docker-registry, htpasswd, umoci and skopeo';

export type AuthMode = 'none' | 'basic' | 'token';

export interface TestRegistry {
  host: string; // 127.0.0.1:PORT
  dir: string;
  auth: AuthMode;
  user: string;
  password: string;
  token?: TokenServer;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(port: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('docker-registry did not start within 15 s');
}

/** libtrust's key id (what distribution matches a JWT's `kid` against): base32 of 30 bytes of sha256(SPKI DER), in groups of 4. */
function libtrustKeyId(pub: KeyObject): string {
  const der = pub.export({ type: 'spki', format: 'der' });
  const sum = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of sum) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface TokenServer {
  url: string;
  /** token requests answered, with the scopes asked */
  requests: { user?: string; scopes: string[] }[];
  /** tokens' lifetime in seconds */
  expiresIn: number;
  close(): Promise<void>;
}

/** A token server for the bearer flow: anonymous gets pull, the user gets pull and push. */
async function startTokenServer(dir: string, issuer: string, service: string, user: string, password: string): Promise<{ server: TokenServer; certFile: string }> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=layerfs-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(fs.readFileSync(keyFile));
  const kid = libtrustKeyId(createPublicKey(key));
  const state: TokenServer = { url: '', requests: [], expiresIn: 300, close: async () => undefined };
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scopes = u.searchParams.getAll('scope');
    let who: string | undefined;
    const a = req.headers.authorization;
    if (a?.startsWith('Basic ')) {
      const [uu, pp] = Buffer.from(a.slice(6), 'base64').toString().split(':');
      if (uu !== user || pp !== password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      who = uu;
    }
    state.requests.push({ ...(who ? { user: who } : {}), scopes });
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      const allowed = actions.split(',').filter((x) => x === 'pull' || (x === 'push' && who !== undefined));
      return [{ type, name, actions: allowed }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', kid };
    const claims = { iss: issuer, sub: who ?? '', aud: service, exp: now + state.expiresIn, nbf: now - 10, iat: now, jti: String(Math.random()), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signing), key);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: state.expiresIn }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/token`;
  state.close = () => new Promise((r) => srv.close(() => r()));
  return { server: state, certFile };
}

/** Starts a registry. */
export async function startRegistry(auth: AuthMode = 'none'): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-registry-'));
  const user = 'tester';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  let authYaml = '';
  let token: TokenServer | undefined;
  if (auth === 'basic') {
    execFileSync('htpasswd', ['-Bbc', path.join(dir, 'htpasswd'), user, password], { stdio: 'ignore' });
    authYaml = `auth:\n  htpasswd:\n    realm: layerfs-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    const t = await startTokenServer(dir, 'layerfs-test-issuer', 'layerfs-test-registry', user, password);
    token = t.server;
    authYaml = `auth:\n  token:\n    realm: ${token.url}\n    service: layerfs-test-registry\n    issuer: layerfs-test-issuer\n    rootcertbundle: ${t.certFile}\n`;
  }
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const config = path.join(dir, 'config.yml');
    fs.mkdirSync(path.join(dir, 'storage'), { recursive: true });
    fs.writeFileSync(
      config,
      `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authYaml}`,
    );
    const logFile = path.join(dir, 'registry.log');
    const log = fs.openSync(logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    live.add(child);
    child.once('exit', () => live.delete(child));
    try {
      await waitUp(port, child, logFile);
    } catch (err) {
      child.kill('SIGKILL');
      if (tries < 2) continue;
      throw err;
    }
    return {
      host: `127.0.0.1:${port}`,
      dir,
      auth,
      user,
      password,
      ...(token ? { token } : {}),
      stop: async () => {
        if (child.exitCode === null) {
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
          if (child.exitCode === null) child.kill('SIGKILL');
        }
        await token?.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
