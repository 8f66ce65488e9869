/**
 * Registry authentication: the WWW-Authenticate challenge a registry answers /v2/ with, then
 * either Basic (credentials on every request) or Bearer (a token from the realm for the scopes a
 * request needs: `repository:NAME:pull[,push]`, anonymous or with credentials; tokens cached per
 * scope set until they expire).
 */
import type { Credentials } from './credentials';
import { RegistryError } from './errors';
import { Agents, readBody, send } from './http';

export interface Challenge {
  scheme: string; // lowercase: bearer, basic
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (several challenges: the first Bearer or Basic one). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(', ') : header;
  const found: Challenge[] = [];
  let i = 0;
  const skip = (chars: string): void => {
    while (i < text.length && chars.includes(text[i]!)) i++;
  };
  const token = (): string => {
    const m = /^[^\s,=]+/.exec(text.slice(i));
    i += m ? m[0].length : 0;
    return m ? m[0] : '';
  };
  while (i < text.length) {
    skip(' ,\t');
    const scheme = token();
    if (!scheme) break;
    const params: Record<string, string> = {};
    for (;;) {
      skip(' \t');
      const save = i;
      const name = token();
      skip(' \t');
      if (!name || text[i] !== '=') {
        i = save; // a new scheme (or the end)
        break;
      }
      i++;
      skip(' \t');
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i++];
        }
        i++;
      } else {
        const m = /^[^,\s]*/.exec(text.slice(i))!;
        value = m[0];
        i += value.length;
      }
      params[name.toLowerCase()] = value;
      skip(' \t');
      if (text[i] === ',') i++;
    }
    found.push({ scheme: scheme.toLowerCase(), params });
  }
  return found.find((c) => c.scheme === 'bearer') ?? found.find((c) => c.scheme === 'basic') ?? found[0];
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthOptions {
  credentials?: Credentials;
  agents: Agents;
  timeoutMs?: number;
  /** current time, for tests of expiry */
  now?: () => number;
}

export class Authenticator {
  challenge?: Challenge;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** token requests made (tests count them to prove caching) */
  tokenRequests = 0;

  constructor(
    readonly registry: string,
    private readonly opts: AuthOptions,
  ) {}

  get hasCredentials(): boolean {
    return this.opts.credentials !== undefined;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async header(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const cr = this.opts.credentials;
      return cr ? `Basic ${Buffer.from(`${cr.username}:${cr.password}`).toString('base64')}` : undefined;
    }
    if (c.scheme !== 'bearer') throw new RegistryError('UNSUPPORTED', `${this.registry} asks for ${c.scheme} authentication, which layerfs does not speak`);
    const key = [...new Set(scopes)].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(c, [...new Set(scopes)].sort(), signal).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const t = await p;
    this.tokens.set(key, t);
    return `Bearer ${t.token}`;
  }

  /** Forgets the token for these scopes (the registry refused it). */
  invalidate(scopes: string[]): void {
    this.tokens.delete([...new Set(scopes)].sort().join(' '));
  }

  private async fetchToken(c: Challenge, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) throw new RegistryError('UNAUTHORIZED', `${this.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError('UNAUTHORIZED', `${this.registry} sent an invalid token realm "${realm}"`);
    }
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    const cr = this.opts.credentials;
    if (cr) headers.authorization = `Basic ${Buffer.from(`${cr.username}:${cr.password}`).toString('base64')}`;
    this.tokenRequests++;
    const res = await send(url, { method: 'GET', headers, signal, timeoutMs: this.opts.timeoutMs }, this.opts.agents);
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError('UNAUTHORIZED', `unauthorized: ${this.registry} refused ${cr ? `the credentials of ${cr.username}` : 'anonymous access'} (token server ${url.host} answered ${res.status})`, { status: res.status });
    }
    if (res.status >= 500 || res.status === 429) {
      throw new RegistryError('REGISTRY', `token server ${url.host} answered ${res.status}`, { status: res.status, retryable: true });
    }
    if (res.status !== 200) throw new RegistryError('UNAUTHORIZED', `token server ${url.host} answered ${res.status}`, { status: res.status });
    let j: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      j = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('UNAUTHORIZED', `token server ${url.host} answered something that is not JSON`);
    }
    const token = j.token ?? j.access_token;
    if (!token) throw new RegistryError('UNAUTHORIZED', `token server ${url.host} answered without a token`);
    // the spec's default lifetime is 60 s; keep a margin so a token does not expire in flight
    const lifetime = (typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60) * 1000;
    const issued = j.issued_at ? Date.parse(j.issued_at) : NaN;
    const start = Number.isFinite(issued) && Math.abs(issued - this.now()) < 300_000 ? issued : this.now();
    return { token, expiresAt: start + lifetime - Math.min(10_000, lifetime / 4) };
  }
}

/** The scope a repository operation needs. */
export function repoScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}
