/**
 * Registry image references: `[docker://][HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]`, with Docker
 * Hub's defaults (docker.io, library/, latest) as docker/distribution's reference package applies
 * them: the first component is a host only when it has a dot or a port or is `localhost`.
 */
import { RegistryError } from './errors';

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

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

function invalid(ref: string, why: string): RegistryError {
  return new RegistryError('EINVAL', `invalid image reference "${ref}": ${why}`);
}

/** Parses a reference; `docker://` is optional. Throws EINVAL with what is wrong. */
export function parseReference(input: string): RegistryReference {
  let s = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
  if (s === '') throw invalid(input, 'empty');
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `digest "${digest}" is not sha256: and 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const lastSlash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `tag "${tag}" is not valid (letters, digits, _ . -, up to 128, not starting with . or -)`);
  }
  let registry = DOCKER_HUB;
  let repository = s;
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const first = s.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      if (!HOST.test(first)) throw invalid(input, `registry host "${first}" is not valid`);
      registry = first;
      repository = s.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (repository === '') throw invalid(input, 'no repository name');
  for (const c of repository.split('/')) {
    if (!COMPONENT.test(c)) {
      throw invalid(input, `repository "${repository}" must be lowercase letters and digits separated by / . _ __ or -`);
    }
  }
  if (repository.length > 255) throw invalid(input, 'repository name longer than 255 characters');
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
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
