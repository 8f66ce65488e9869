/**
 * Transport names as skopeo writes them: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker-archive:FILE[:NAME:TAG]`, `tarball:FILE`; others (`docker://`) are registered by the
 * module that implements them with registerTransport().
 */
import { ImageError } from '../errors';
import { formatReference, parseReference } from '../reference';
import type { ImageDestination, ImageSource } from '../types';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive';
import { OciArchiveDestination, ociArchiveSource } from './oci-archive';
import { dirTree, OciLayoutDestination, OciLayoutSource, splitPathTag } from './oci-layout';
import { TarballSource } from './tarball';

export interface DestinationOptions {
  /** the image's name:tag, for formats that record one when the reference names none (docker-archive) */
  defaultName?: string;
}

export interface Transport {
  /** `docker` for `docker://...` */
  name: string;
  /** `rest` is what follows `NAME:` (for docker://, `//host/repo:tag`) */
  source?(rest: string, reference: string): Promise<ImageSource>;
  destination?(rest: string, reference: string, opts: DestinationOptions): Promise<ImageDestination>;
}

const transports = new Map<string, Transport>();

/** Adds (or replaces) a transport: the registry side registers `docker` this way. */
export function registerTransport(t: Transport): void {
  transports.set(t.name, t);
}

export function transportNames(): string[] {
  return [...transports.keys()].sort();
}

/** `NAME:REST` -> the transport and REST; a bare name has no transport. */
export function splitTransport(reference: string): { transport: Transport; rest: string } {
  const i = reference.indexOf(':');
  const t = i > 0 ? transports.get(reference.slice(0, i)) : undefined;
  if (t === undefined) {
    throw new ImageError('ETRANSPORT', `"${reference}": name a transport (${transportNames().map((n) => `${n}:`).join(', ')})`);
  }
  return { transport: t, rest: reference.slice(i + 1) };
}

export function isTransportReference(reference: string): boolean {
  const i = reference.indexOf(':');
  return i > 0 && transports.has(reference.slice(0, i));
}

export async function openSource(reference: string): Promise<ImageSource> {
  const { transport, rest } = splitTransport(reference);
  if (!transport.source) throw new ImageError('ETRANSPORT', `${transport.name}: cannot be read from`);
  return transport.source(rest, reference);
}

export async function openDestination(reference: string, opts: DestinationOptions = {}): Promise<ImageDestination> {
  const { transport, rest } = splitTransport(reference);
  if (!transport.destination) throw new ImageError('ETRANSPORT', `${transport.name}: cannot be written to (${transport.name === 'tarball' ? 'import only' : 'read only'})`);
  return transport.destination(rest, reference, opts);
}

function needPath(p: string, reference: string): string {
  if (p === '') throw new ImageError('EINVAL', `"${reference}": a path is missing`);
  return p;
}

/** docker-archive:FILE[:NAME[:TAG]]: the first colon after which a reference parses splits them. */
function splitArchiveRef(rest: string): { path: string; ref?: string } {
  for (let i = rest.indexOf(':'); i > 0; i = rest.indexOf(':', i + 1)) {
    try {
      const r = parseReference(rest.slice(i + 1));
      if (r.digest === undefined) return { path: rest.slice(0, i), ref: formatReference({ ...r, tag: r.tag ?? 'latest' }) };
    } catch {
      /* part of the path */
    }
  }
  return { path: rest };
}

registerTransport({
  name: 'oci',
  source: async (rest, ref) => {
    const { path, tag } = splitPathTag(rest);
    return new OciLayoutSource(ref, dirTree(needPath(path, ref)), tag);
  },
  destination: async (rest, ref) => {
    const { path, tag } = splitPathTag(rest);
    return new OciLayoutDestination(ref, needPath(path, ref), tag);
  },
});
registerTransport({
  name: 'oci-archive',
  source: async (rest, ref) => {
    const { path, tag } = splitPathTag(rest);
    return ociArchiveSource(ref, needPath(path, ref), tag);
  },
  destination: async (rest, ref) => {
    const { path, tag } = splitPathTag(rest);
    return new OciArchiveDestination(ref, needPath(path, ref), tag);
  },
});
registerTransport({
  name: 'docker-archive',
  source: async (rest, ref) => {
    const { path, ref: want } = splitArchiveRef(rest);
    return DockerArchiveSource.open(ref, needPath(path, ref), want);
  },
  destination: async (rest, ref, opts) => {
    const { path, ref: name } = splitArchiveRef(rest);
    return new DockerArchiveDestination(ref, needPath(path, ref), name ?? opts.defaultName);
  },
});
registerTransport({
  name: 'tarball',
  source: async (rest, ref) => TarballSource.open(ref, needPath(rest, ref)),
});
