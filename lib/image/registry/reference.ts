/**
 * Registry image references: `[docker://][HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]`, with Docker
 * Hub's defaults (docker.io, library/, latest) as docker/distribution's reference package applies
 * them: the first component is a host only when it has a dot or a port or is `localhost`.
 */
import { RegistryError } from './errors';
import { parseReference as parseStoreReference } from '../reference';

export const DOCKER_HUB = 'docker.io';
/** where docker.io's API actually lives */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface RegistryReference {
  /** host[:port], normalized (docker.io for Docker Hub) */
  registry: string;
  /** repository path, e.g. library/alpine */
  repository: string;
  /** tag when named by tag (latest when neither tag nor digest was given) */
  tag?: string;
  /** sha256:... when named by digest */
  digest?: string;
}

/** Parses a reference (the store's grammar, lib/image/reference.ts) and applies Docker Hub's defaults; `docker://` is optional. */
export function parseReference(input: string): RegistryReference {
  const s = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  let r;
  try {
    r = parseStoreReference(s);
  } catch (err) {
    throw new RegistryError('EINVAL', (err as Error).message.replace(`"${s}"`, `"${input}"`));
  }
  let registry = r.host ?? DOCKER_HUB;
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  let repository = r.repository;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  const tag = r.tag === undefined && r.digest === undefined ? 'latest' : r.tag;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(r.digest !== undefined ? { digest: r.digest } : {}) };
}

/** The full normalized name: docker.io/library/alpine:latest, host:5000/a/b@sha256:... */
export function formatReference(r: RegistryReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** What the manifest endpoint is asked for: the digest when there is one, else the tag. */
export function manifestReference(r: RegistryReference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/** The host the API is served from (docker.io's lives elsewhere). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** localhost and loopback addresses: plain HTTP allowed without --tls-verify=false. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
