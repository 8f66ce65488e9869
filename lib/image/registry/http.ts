/**
 * One HTTP exchange on node:http/https (keep-alive agents, the system's CAs, per-registry CAs from
 * certs.d), with the response body left as a stream. node:http rather than fetch: a blob redirect
 * to storage must drop the registry's Authorization, a Range resume needs the raw status and
 * headers, and a cut body must surface as an error, not a short read.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { networkError, RegistryError } from './errors';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  url: URL;
}

export interface SendOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** idle socket timeout (no bytes either way) */
  timeoutMs?: number;
}

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];
let systemCAs: string[] | undefined | null = null;

/** The system's CA bundle (Node's own list is Mozilla's, not the machine's), read once. */
function systemCa(): string[] | undefined {
  if (systemCAs === null) {
    systemCAs = undefined;
    for (const f of SYSTEM_BUNDLES) {
      try {
        systemCAs = [fs.readFileSync(f, 'utf8')];
        break;
      } catch {
        /* next */
      }
    }
  }
  return systemCAs;
}

/** Extra CAs for one registry, as containers and docker keep them: certs.d/HOST[:PORT]/*.crt */
function registryCa(host: string, certDirs: string[]): string[] {
  const out: string[] = [];
  for (const dir of certDirs) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, host));
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.crt')) out.push(fs.readFileSync(path.join(dir, host, n), 'utf8'));
  }
  return out;
}

export interface AgentOptions {
  tlsVerify: boolean;
  /** defaults: /etc/containers/certs.d, /etc/docker/certs.d */
  certDirs?: string[];
  maxSockets?: number;
}

/** Keep-alive agents for one registry (and whatever hosts it redirects to). */
export class Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;

  constructor(host: string, opts: AgentOptions) {
    const maxSockets = opts.maxSockets ?? 32;
    this.http = new http.Agent({ keepAlive: true, maxSockets });
    const sys = systemCa();
    const extra = registryCa(host, opts.certDirs ?? ['/etc/containers/certs.d', '/etc/docker/certs.d']);
    const ca = sys || extra.length ? [...(sys ?? []), ...extra] : undefined;
    this.https = new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: opts.tlsVerify, ...(ca ? { ca } : {}) });
  }

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/** Sends one request and resolves with the response head; the body is the caller's to consume. */
export function send(url: URL, opts: SendOptions, agents: Agents): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === 'https:';
    const mod = isHttps ? https : http;
    const headers: Record<string, string> = { 'user-agent': 'layerfs', ...opts.headers };
    if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
    const req = mod.request(url, { method: opts.method, headers, agent: isHttps ? agents.https : agents.http, signal: opts.signal });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => {
      const e = new Error(`no answer from ${url.host} for ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`) as NodeJS.ErrnoException;
      e.code = 'ESOCKETTIMEDOUT';
      req.destroy(e);
    });
    req.once('error', (err) => reject(networkError(err, url.host)));
    req.once('response', (res) => {
      // once the head is in, a later socket error belongs to the body stream
      req.removeAllListeners('error');
      req.on('error', (err) => res.destroy(err));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url });
    });
    if (opts.body === undefined || Buffer.isBuffer(opts.body)) req.end(opts.body);
    else {
      opts.body.once('error', (err) => req.destroy(err));
      opts.body.pipe(req);
    }
  });
}

/** Reads a whole (small) body; `limit` guards against a registry answering a manifest with gigabytes. */
export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > limit) {
        res.body.destroy();
        throw new RegistryError('REGISTRY', `${res.url.host} answered more than ${limit} bytes for ${res.url.pathname}`);
      }
      chunks.push(c);
    }
  } catch (err) {
    throw networkError(err, res.url.host);
  }
  const body = Buffer.concat(chunks);
  const expected = res.headers['content-length'];
  if (expected !== undefined && Number(expected) !== body.length) {
    throw new RegistryError('TRUNCATED', `body from ${res.url.host} cut at ${body.length} of ${expected} bytes`, { retryable: true });
  }
  return body;
}

/** Discards a body so the socket goes back to the pool. */
export function drain(res: HttpResponse): void {
  res.body.resume();
  res.body.on('error', () => undefined);
}
