/** Platform selection from an index or manifest list (this machine's os/arch by default). */
import { ImageError } from './errors';
import type { Descriptor, ImageIndex, Platform } from './types';

const ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le' };

export function hostPlatform(): Platform {
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: ARCH[process.arch] ?? process.arch };
  if (process.arch === 'arm64') p.variant = 'v8';
  return p;
}

/** "linux/arm64/v8" -> Platform */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new ImageError('EINVAL', `platform "${s}": expected OS/ARCH[/VARIANT]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The index entry for `want`; a missing variant on either side matches (arm64 images often omit v8). */
export function selectManifest(index: ImageIndex, want: Platform): Descriptor {
  const candidates = index.manifests.filter((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture);
  const exact = candidates.find((d) => (d.platform!.variant ?? '') === (want.variant ?? ''));
  const hit = exact ?? candidates.find((d) => !d.platform!.variant || !want.variant);
  if (hit) return hit;
  // an index without platforms (an OCI layout of one image): its only manifest
  if (index.manifests.length === 1 && index.manifests[0].platform === undefined) return index.manifests[0];
  const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
  throw new ImageError('EPLATFORM', `no image for ${formatPlatform(want)} (the index has: ${have || 'nothing'})`);
}
