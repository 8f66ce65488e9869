/**
 * The client's HTTP behaviour against small fake servers (what docker-registry does not do here):
 * a blob redirected to storage on another origin (followed, the registry's Authorization not sent
 * there), a registry ignoring Range on a resume (the bytes already had are skipped), a TLS failure
 * (one line, code TLS), Retry-After as an HTTP date.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerSource } from '../../../lib/image/registry/source';
import { parseRetryAfter } from '../../../lib/image/registry/client';

const data = Buffer.alloc(300_000, 7).map((_, i) => (i * 31) & 0xff);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
const desc = { mediaType: 'application/octet-stream', digest, size: data.length };

async function listen(srv: http.Server | https.Server): Promise<string> {
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

test('a blob redirected to storage on another origin: followed, without the registry Authorization', async () => {
  const seen: (string | undefined)[] = [];
  const storage = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-length': data.length }).end(data);
  });
  const storageHost = await listen(storage);
  const registry = http.createServer((req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      return;
    }
    res.writeHead(307, { location: `http://${storageHost}/bucket/blob?sig=abc` }).end();
  });
  const host = await listen(registry);
  const src = new DockerSource(`${host}/x/y:1`, { credentials: { username: 'u', password: 'p' } });
  assert.equal(await readAll(await src.getBlob(desc)), data);
  assert.equal(seen, [undefined]);
  await src.close();
  registry.close();
  storage.close();
});

test('a resume the registry answers with 200 (Range ignored): the bytes already had are skipped', async () => {
  let n = 0;
  const registry = http.createServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end();
    n++;
    res.writeHead(200, { 'content-length': data.length });
    if (n === 1) {
      res.write(data.subarray(0, 100_000), () => res.socket?.destroy());
      return;
    }
    res.end(data);
  });
  const host = await listen(registry);
  const src = new DockerSource(`${host}/x/y:1`, { retryBaseMs: 10 });
  assert.equal(await readAll(await src.getBlob(desc)), data);
  assert.is(n, 2);
  await src.close();
  registry.close();
});

test('TLS failure: one line with code TLS (a self-signed certificate)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    const srv = https.createServer({ key: fs.readFileSync(path.join(dir, 'k')), cert: fs.readFileSync(path.join(dir, 'c')) }, (_req, res) => res.writeHead(200).end());
    const host = await listen(srv);
    const src = new DockerSource(`${host}/x/y:1`, { retries: 0 });
    try {
      await src.getManifest();
      assert.unreachable('self-signed');
    } catch (err) {
      assert.is((err as { code: string }).code, 'TLS', (err as Error).message);
      assert.match((err as Error).message, /^TLS failure talking to 127\.0\.0\.1:\d+: /);
    }
    await src.close();
    srv.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Retry-After: seconds or an HTTP date', () => {
  assert.is(parseRetryAfter('3'), 3);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.is(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5);
  assert.is(parseRetryAfter('soon'), undefined);
});

test.run();
