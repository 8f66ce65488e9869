/**
 * Reference images for the registry tests, built with umoci in an OCI layout and pushed with
 * skopeo (the peers), so what layerfs pulls was written by someone else:
 *   v1: one layer (files, an executable, a symlink, a hard link, a 1.5 MB random file)
 *   v2: v1 + a layer that changes a file, deletes one (a whiteout) and adds a directory
 *   v3: v1 + another layer (shares v1's layer with v2)
 *   v2-arm64: v2's layers under an arm64 config (for an index with two platforms)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Descriptor, ImageIndex } from '../../lib/image/types';
import { MediaType } from '../../lib/image/types';

export const haveTools = ['/usr/bin/umoci', '/usr/bin/skopeo'].every((f) => fs.existsSync(f));

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function seeded(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Builds the layout in `dir`/layout; returns its path. */
export function buildLayout(dir: string): string {
  const L = path.join(dir, 'layout');
  sh('umoci', ['init', '--layout', L]);
  sh('umoci', ['new', '--image', `${L}:base`]);
  const step = (from: string, to: string, change: (root: string) => void): void => {
    const B = path.join(dir, `bundle-${to}`);
    sh('umoci', ['unpack', '--image', `${L}:${from}`, B]);
    change(path.join(B, 'rootfs'));
    sh('umoci', ['repack', '--image', `${L}:${to}`, B]);
    fs.rmSync(B, { recursive: true, force: true });
  };
  step('base', 'v1', (r) => {
    fs.mkdirSync(path.join(r, 'etc/deep/er'), { recursive: true });
    fs.writeFileSync(path.join(r, 'etc/hello'), 'hello v1\n');
    fs.writeFileSync(path.join(r, 'etc/deep/er/file'), 'deep\n');
    fs.mkdirSync(path.join(r, 'bin'));
    fs.writeFileSync(path.join(r, 'bin/tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
    fs.symlinkSync('../etc/hello', path.join(r, 'bin/link'));
    fs.linkSync(path.join(r, 'etc/hello'), path.join(r, 'etc/hello-hard'));
    fs.writeFileSync(path.join(r, 'big'), seeded(1_500_000, 'big'));
    fs.writeFileSync(path.join(r, 'gone'), 'deleted in v2\n');
  });
  step('v1', 'v2', (r) => {
    fs.writeFileSync(path.join(r, 'etc/hello'), 'hello v2\n');
    fs.rmSync(path.join(r, 'gone'));
    fs.mkdirSync(path.join(r, 'opt/app'), { recursive: true });
    fs.writeFileSync(path.join(r, 'opt/app/data'), seeded(700_000, 'v2'));
  });
  step('v1', 'v3', (r) => {
    fs.writeFileSync(path.join(r, 'etc/v3'), 'v3 only\n');
    fs.writeFileSync(path.join(r, 'v3data'), seeded(400_000, 'v3'));
  });
  sh('umoci', ['config', '--image', `${L}:v2`, '--architecture', 'arm64', '--tag', 'v2-arm64']);
  zstdTag(L, 'v2', 'v2-zstd');
  return L;
}

function putLayoutBlob(L: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(path.join(L, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** A copy of tag `from` whose layers are recompressed with zstd (skopeo 1.9 keeps gzip layers as they are). */
function zstdTag(L: string, from: string, to: string): void {
  const d = layoutDescriptor(L, from);
  const m = JSON.parse(layoutBlob(L, d.digest).toString()) as { layers: Descriptor[] };
  for (const layer of m.layers) {
    const tar = execFileSync('gzip', ['-dc'], { input: layoutBlob(L, layer.digest), maxBuffer: 1 << 30 });
    const z = execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
    Object.assign(layer, putLayoutBlob(L, z), { mediaType: MediaType.OciLayerZstd });
  }
  const mb = putLayoutBlob(L, Buffer.from(JSON.stringify(m)));
  const index = JSON.parse(fs.readFileSync(path.join(L, 'index.json'), 'utf8')) as ImageIndex;
  index.manifests.push({ mediaType: MediaType.OciManifest, ...mb, annotations: { 'org.opencontainers.image.ref.name': to } });
  fs.writeFileSync(path.join(L, 'index.json'), JSON.stringify(index));
}

/** The manifest descriptor of a tag of the layout. */
export function layoutDescriptor(L: string, tag: string): Descriptor {
  const index = JSON.parse(fs.readFileSync(path.join(L, 'index.json'), 'utf8')) as ImageIndex;
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!d) throw new Error(`no tag ${tag} in ${L}`);
  return d;
}

export function layoutBlob(L: string, digest: string): Buffer {
  return fs.readFileSync(path.join(L, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

/** skopeo copy oci:L:tag docker://host/repo:dtag (zstd: layers recompressed with zstd). Returns the pushed manifest digest. */
export function skopeoPush(L: string, tag: string, host: string, dest: string, opts: { zstd?: boolean; creds?: string; workdir: string }): string {
  const digestFile = path.join(opts.workdir, `digest-${Math.random().toString(36).slice(2)}`);
  const args = ['copy', '-q', '--dest-tls-verify=false', '--digestfile', digestFile];
  if (opts.zstd) args.push('--dest-compress-format', 'zstd', '--dest-compress');
  if (opts.creds) args.push('--dest-creds', opts.creds);
  args.push(`oci:${L}:${tag}`, `docker://${host}/${dest}`);
  sh('skopeo', args);
  const d = fs.readFileSync(digestFile, 'utf8').trim();
  fs.rmSync(digestFile);
  return d;
}

/** The raw manifest skopeo reads for a registry reference. */
export function skopeoRaw(ref: string, creds?: string): Buffer {
  return execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`]);
}

/** PUTs an image index naming two pushed manifests (by their digests) under `tag`. */
export async function putIndex(host: string, repo: string, tag: string, entries: { digest: string; platform: { os: string; architecture: string; variant?: string } }[]): Promise<string> {
  const manifests: Descriptor[] = entries.map((e) => {
    const raw = skopeoRaw(`${host}/${repo}@${e.digest}`);
    return { mediaType: MediaType.OciManifest, digest: e.digest, size: raw.length, platform: e.platform };
  });
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  await new Promise<void>((resolve, reject) => {
    const [h, p] = host.split(':');
    const req = http.request({ host: h, port: Number(p), method: 'PUT', path: `/v2/${repo}/manifests/${tag}`, headers: { 'content-type': MediaType.OciIndex, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`index PUT: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** `umoci unpack` of a registry image (through skopeo into a fresh layout): its rootfs path. */
export function umociUnpackFromRegistry(ref: string, workdir: string, creds?: string): string {
  const L = path.join(workdir, `peer-${Math.random().toString(36).slice(2)}`);
  sh('skopeo', ['copy', '-q', '--src-tls-verify=false', ...(creds ? ['--src-creds', creds] : []), `docker://${ref}`, `oci:${L}:img`]);
  const B = `${L}-bundle`;
  sh('umoci', ['unpack', '--image', `${L}:img`, B]);
  return path.join(B, 'rootfs');
}
