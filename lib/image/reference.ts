/**
 * Image references: `[HOST[:PORT]/]REPO[:TAG][@sha256:HEX]`, the docker grammar (distribution's
 * reference package) without its defaults. The registry side applies docker.io / library/ /
 * latest; the store keeps names as written (plus `:latest` when no tag and no digest is given).
 */

export class ReferenceError extends Error {
  readonly code = 'EINVALIDREF';
  constructor(readonly reference: string, why: string) {
    super(`invalid image reference "${reference}": ${why}`);
  }
}

export interface Reference {
  /** registry host with its port, when the first component looks like one (has . or : or is localhost) */
  host?: string;
  /** the repository path, without the host: `library/debian`, `myapp` */
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d+)?$/;

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

/** Parses a reference; `{ tag: 'latest' }` is NOT added here (see withDefaultTag). */
export function parseReference(ref: string): Reference {
  if (typeof ref !== 'string' || ref === '') throw new ReferenceError(String(ref), 'empty');
  if (ref.length > 255 + 72 + 129) throw new ReferenceError(ref, 'too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(ref, `digest must be sha256:<64 lowercase hex>, got "${digest}"`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(ref, `invalid tag "${tag}"`);
  }
  const parts = rest.split('/');
  let host: string | undefined;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost' || /[A-Z]/.test(parts[0]))) {
    host = parts.shift()!;
    if (!HOST.test(host)) throw new ReferenceError(ref, `invalid registry host "${host}"`);
  }
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw new ReferenceError(ref, p === '' ? 'empty path component' : `invalid name component "${p}" (lowercase letters, digits and separators . _ __ -)`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw new ReferenceError(ref, 'name longer than 255 characters');
  return { host, repository, tag, digest };
}

/** `{host/}repository` */
export function referenceName(r: Reference): string {
  return r.host === undefined ? r.repository : `${r.host}/${r.repository}`;
}

/** The canonical string: `name[:tag][@digest]`. */
export function formatReference(r: Reference): string {
  return referenceName(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** Adds `:latest` when the reference has neither a tag nor a digest. */
export function withDefaultTag(r: Reference): Reference {
  return r.tag === undefined && r.digest === undefined ? { ...r, tag: 'latest' } : r;
}

/** `name:tag` for a store tag: parse, default tag, refuse a digest. */
export function parseTag(ref: string): { name: string; tag: string; full: string } {
  const r = withDefaultTag(parseReference(ref));
  if (r.digest !== undefined) throw new ReferenceError(ref, 'a tag cannot name a digest');
  const name = referenceName(r);
  return { name, tag: r.tag!, full: `${name}:${r.tag}` };
}
