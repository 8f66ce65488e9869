/**
 * A client for one registry (API v2): finds the scheme and the auth challenge with a ping of /v2/,
 * adds the Authorization each request's scopes need, retries with exponential backoff on 5xx,
 * 429 (honouring Retry-After) and cut connections, follows redirects (dropping the registry's
 * Authorization when the redirect leaves its origin, as blob storage expects), and turns refusals
 * into one-line RegistryErrors.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authenticator, parseChallenge } from './auth';
import { Credentials, findCredentials } from './credentials';
import { RegistryError } from './errors';
import { Agents, drain, HttpResponse, readBody, send } from './http';
import { apiHost, isLoopback } from './reference';

export interface ClientOptions {
  /** verify TLS certificates (default true); false also allows plain HTTP, as for loopback hosts */
  tlsVerify?: boolean;
  /** explicit credentials; else looked up in the auth files */
  credentials?: Credentials;
  /** only this auth file is read */
  authFile?: string;
  /** attempts after the first on retryable failures (default 5) */
  retries?: number;
  /** first backoff delay (default 250 ms), doubled each attempt up to retryMaxMs (default 10 s) */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** idle socket timeout (default 60 s) */
  timeoutMs?: number;
  /** directories of HOST[:PORT]/*.crt CA files (default /etc/containers/certs.d, /etc/docker/certs.d) */
  certDirs?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface RequestSpec {
  method: string;
  /** a path under the registry (/v2/...) or an absolute URL (an upload Location) */
  path: string;
  headers?: Record<string, string>;
  /** a Buffer is resent on retries; a stream is sent once */
  body?: Buffer | Readable;
  scopes: string[];
  /** statuses returned to the caller; any other is an error */
  ok: number[];
  /** what is being asked for, in messages ("manifest latest of library/alpine") */
  what: string;
  /** the code a 404 without a registry error code gets */
  notFound?: 'NAME_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN';
  signal?: AbortSignal;
}

export interface ClientStats {
  requests: number;
  retries: number;
}

/** Parses Retry-After (seconds or an HTTP date) into seconds. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, (t - now) / 1000) : undefined;
}

export class RegistryClient {
  readonly host: string;
  readonly auth: Authenticator;
  readonly agents: Agents;
  readonly stats: ClientStats = { requests: 0, retries: 0 };
  private base?: Promise<URL>;
  private readonly opts: ClientOptions;

  constructor(
    readonly registry: string,
    repository: string,
    opts: ClientOptions = {},
  ) {
    this.opts = opts;
    this.host = apiHost(registry);
    this.agents = new Agents(this.host, { tlsVerify: opts.tlsVerify ?? true, ...(opts.certDirs ? { certDirs: opts.certDirs } : {}) });
    const credentials = opts.credentials ?? findCredentials(registry, repository, { ...(opts.authFile !== undefined ? { authFile: opts.authFile } : {}), ...(opts.env ? { env: opts.env } : {}) });
    this.auth = new Authenticator(registry, { agents: this.agents, ...(credentials ? { credentials } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  }

  get retries(): number {
    return this.opts.retries ?? 5;
  }

  /** The delay before retry `attempt` (0-based): Retry-After when given, else backoff with jitter. */
  backoff(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return Math.min(retryAfter * 1000, 120_000);
    const base = this.opts.retryBaseMs ?? 250;
    const d = Math.min(this.opts.retryMaxMs ?? 10_000, base * 2 ** attempt);
    return d / 2 + (Math.random() * d) / 2;
  }

  /** Resolves the API's base URL (https, or http where allowed) and learns the auth challenge. */
  endpoint(signal?: AbortSignal): Promise<URL> {
    if (!this.base) {
      this.base = this.ping(signal);
      this.base.catch(() => (this.base = undefined));
    }
    return this.base;
  }

  private async ping(signal?: AbortSignal): Promise<URL> {
    const plainAllowed = this.opts.tlsVerify === false || isLoopback(this.registry);
    const schemes = plainAllowed ? ['https:', 'http:'] : ['https:'];
    let first: unknown;
    for (const scheme of schemes) {
      const base = new URL(`${scheme}//${this.host}/v2/`);
      let res: HttpResponse;
      try {
        res = await this.withRetries(`the registry API of ${this.host}`, signal, () => send(base, { method: 'GET', signal, timeoutMs: this.opts.timeoutMs ?? 60_000 }, this.agents), true);
      } catch (err) {
        first ??= err;
        const code = (err as RegistryError).code;
        if (code === 'TLS' || code === 'UNREACHABLE' || code === 'TRUNCATED') continue;
        throw err;
      }
      drain(res);
      if (res.status === 401) {
        this.auth.challenge = parseChallenge(res.headers['www-authenticate']);
      } else if (res.status !== 200) {
        throw new RegistryError('REGISTRY', `${this.host} does not answer as a registry (GET /v2/ gave ${res.status})`, { status: res.status });
      }
      return new URL(`${scheme}//${this.host}`);
    }
    throw first;
  }

  /** Runs one exchange with retries on retryable errors and retryable statuses. */
  private async withRetries(what: string, signal: AbortSignal | undefined, once: () => Promise<HttpResponse>, isPing = false): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      let err: RegistryError;
      try {
        this.stats.requests++;
        const res = await once();
        if (res.status < 500 && res.status !== 429) return res;
        const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
        err = this.errorFor(res, body, { what, ok: [], scopes: [], method: '', path: '' });
      } catch (e) {
        err = e instanceof RegistryError ? e : new RegistryError('REGISTRY', String(e));
        if (isPing && (err.code === 'TLS' || err.code === 'UNREACHABLE')) throw err;
      }
      if (!err.retryable || attempt >= this.retries || signal?.aborted) throw err;
      this.stats.retries++;
      await sleep(this.backoff(attempt, err.retryAfter), undefined, signal ? { signal } : undefined).catch(() => {
        throw new RegistryError('ABORTED', 'aborted');
      });
    }
  }

  /**
   * Sends a request: auth for its scopes, redirects for GET/HEAD, retries when its body can be
   * resent. Resolves with the response (body unread) when its status is in `ok`.
   */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    const base = await this.endpoint(spec.signal);
    let url = new URL(spec.path, base);
    let reauthed = false;
    let redirects = 0;
    let withAuth = true;
    const resendable = spec.body === undefined || Buffer.isBuffer(spec.body);
    for (;;) {
      const headers: Record<string, string> = { ...spec.headers };
      if (withAuth) {
        const a = await this.auth.header(spec.scopes, spec.signal);
        if (a) headers.authorization = a;
      }
      const target = url;
      const res = resendable
        ? await this.withRetries(spec.what, spec.signal, () => send(target, { method: spec.method, headers, body: spec.body, signal: spec.signal, timeoutMs: this.opts.timeoutMs }, this.agents))
        : await send(target, { method: spec.method, headers, body: spec.body, signal: spec.signal, timeoutMs: this.opts.timeoutMs }, this.agents);
      if (res.status === 401 && withAuth && !reauthed && resendable) {
        drain(res);
        reauthed = true;
        const c = parseChallenge(res.headers['www-authenticate']);
        if (c) this.auth.challenge = c;
        this.auth.invalidate(spec.scopes);
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && (spec.method === 'GET' || spec.method === 'HEAD') && res.headers.location) {
        drain(res);
        if (++redirects > 10) throw new RegistryError('REGISTRY', `too many redirects fetching ${spec.what}`);
        const next = new URL(res.headers.location, url);
        // storage behind a redirect (S3, a CDN) has its own auth in the URL and refuses ours
        if (next.origin !== base.origin) withAuth = false;
        url = next;
        continue;
      }
      if (spec.ok.includes(res.status)) return res;
      const body = spec.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
      if (spec.method === 'HEAD') drain(res);
      throw this.errorFor(res, body, spec);
    }
  }

  /** GETs a small JSON-ish body whole. */
  async getBytes(spec: Omit<RequestSpec, 'method' | 'ok'>, limit?: number): Promise<{ res: HttpResponse; body: Buffer }> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.request({ ...spec, method: 'GET', ok: [200] });
      try {
        return { res, body: await readBody(res, limit) };
      } catch (err) {
        const e = err as RegistryError;
        if (!e.retryable || attempt >= this.retries) throw err;
        this.stats.retries++;
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** The one-line error for an unexpected answer. */
  errorFor(res: HttpResponse, body: Buffer, spec: Pick<RequestSpec, 'what' | 'notFound'> & Partial<RequestSpec>): RegistryError {
    let code: string | undefined;
    let message: string | undefined;
    try {
      const j = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
      code = j.errors?.[0]?.code;
      message = j.errors?.[0]?.message;
    } catch {
      /* not the registry's error JSON */
    }
    const status = res.status;
    const detail = message ? `: ${message}` : '';
    const retryAfter = parseRetryAfter(res.headers['retry-after'] as string | undefined);
    const opts = { status, ...(retryAfter !== undefined ? { retryAfter } : {}) };
    if (status === 401) {
      const who = this.auth.hasCredentials ? 'the stored credentials were refused' : `log in with \`layerfs login ${this.registry}\``;
      return new RegistryError('UNAUTHORIZED', `unauthorized: ${this.registry} refused access to ${spec.what} (${who})`, opts);
    }
    if (status === 403) return new RegistryError('DENIED', `denied: ${this.registry} forbids access to ${spec.what}${detail}`, opts);
    if (status === 404) {
      const c = code === 'NAME_UNKNOWN' || code === 'MANIFEST_UNKNOWN' || code === 'BLOB_UNKNOWN' ? code : (spec.notFound ?? 'MANIFEST_UNKNOWN');
      const what = c === 'NAME_UNKNOWN' ? 'name unknown' : c === 'MANIFEST_UNKNOWN' ? 'manifest unknown' : 'blob unknown';
      return new RegistryError(c, `${what}: ${spec.what} not found on ${this.registry}`, opts);
    }
    if (status === 429) return new RegistryError('TOOMANYREQUESTS', `too many requests: ${this.registry} throttled ${spec.what}`, { ...opts, retryable: true });
    if (status >= 500) return new RegistryError('REGISTRY', `${this.registry} failed (${status}) on ${spec.what}${detail}`, { ...opts, retryable: true });
    return new RegistryError('REGISTRY', `${this.registry} answered ${status}${code ? ` ${code}` : ''} to ${spec.what}${detail}`, opts);
  }

  close(): void {
    this.agents.destroy();
  }
}
