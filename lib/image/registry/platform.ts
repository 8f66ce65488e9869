/**
 * Platforms: this machine's (as OCI names it), `os/arch[/variant]` from the command line, and the
 * choice of one manifest from an image index or a Docker manifest list.
 */
import { RegistryError } from './errors';
import { Descriptor, ImageIndex, MediaType, Platform } from '../types';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64le', loong64: 'loong64' };

export function currentPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? v : 7}`;
  }
  return p;
}

/** Parses `os/arch[/variant]`. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[\w.-]+$/.test(p))) {
    throw new RegistryError('EINVAL', `invalid platform "${s}": expected os/arch[/variant], e.g. linux/arm64/v8`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! === 'x86_64' ? 'amd64' : parts[1]! === 'aarch64' ? 'arm64' : parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** arm64's variant defaults to v8; other architectures have none by default. */
function variantOf(p: Platform): string | undefined {
  return p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
}

export function isIndex(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/**
 * The manifest of `index` for `want`: os and architecture equal, variant equal when both name one
 * (an entry without a variant matches any). Throws PLATFORM_UNKNOWN listing what the index has.
 */
export function selectManifest(index: ImageIndex, want: Platform, reference: string): Descriptor {
  const images = index.manifests.filter((d) => d.platform && !isIndex(d.mediaType));
  const exact = images.filter((d) => d.platform!.os === want.os && d.platform!.architecture === want.architecture);
  const wv = variantOf(want);
  const match = exact.find((d) => variantOf(d.platform!) === wv) ?? exact.find((d) => variantOf(d.platform!) === undefined || wv === undefined);
  if (match) return match;
  const have = [...new Set(images.map((d) => formatPlatform(d.platform!)))].join(', ') || 'none';
  throw new RegistryError('PLATFORM_UNKNOWN', `platform ${formatPlatform(want)} not in the index of ${reference} (it has: ${have})`);
}
