/**
 * Pull figures against a local docker-registry (started here on 127.0.0.1, random port): a cold
 * pull of a 4-layer image (gzip and zstd) into a ready-to-mount store, layerfs against
 * `podman pull` (overlay driver) and `skopeo copy` + `umoci unpack`; a second image sharing 3 of
 * the 4 layers; layerfs with --jobs 1/2/4/8. One run, side by side; seconds, MB/s (of compressed
 * bytes), ratios. Usage: node dist/bench/registry-pull.js [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../test/helpers/registry';

const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const LAYERS = ['usr/lib/python3.11', 'usr/libexec', 'usr/lib/python3', 'usr/share/perl'];
const OTHER_TOP = 'usr/share/zoneinfo';

function blob(L: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(path.join(L, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** An OCI layout with tags gzip, zstd, gzip2 (the last layer replaced) built from tars of /usr. */
function buildLayout(L: string): void {
  fs.mkdirSync(path.join(L, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(L, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tars = [...LAYERS, OTHER_TOP].map((d) => execFileSync('tar', ['-C', '/', '--sort=name', '--mtime=2024-01-01', '-cf', '-', d], { maxBuffer: 1 << 30 }));
  const diffIDs = tars.map((t) => `sha256:${createHash('sha256').update(t).digest('hex')}`);
  const gz = tars.map((t) => blob(L, execFileSync('pigz', ['-6', '-n', '-c'], { input: t, maxBuffer: 1 << 30 })));
  const zs = tars.map((t) => blob(L, execFileSync('zstd', ['-3', '-q', '-c'], { input: t, maxBuffer: 1 << 30 })));
  const index: { schemaVersion: 2; manifests: object[] } = { schemaVersion: 2, manifests: [] };
  const image = (tag: string, picks: number[], comp: { digest: string; size: number }[], mt: string): void => {
    const config = blob(L, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: picks.map((i) => diffIDs[i]) } })));
    const m = blob(L, Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: picks.map((i) => ({ mediaType: mt, ...comp[i] })),
    })));
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': tag } });
  };
  image('gzip', [0, 1, 2, 3], gz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  image('zstd', [0, 1, 2, 3], zs, 'application/vnd.oci.image.layer.v1.tar+zstd');
  image('gzip2', [0, 1, 2, 4], gz, 'application/vnd.oci.image.layer.v1.tar+gzip');
  fs.writeFileSync(path.join(L, 'index.json'), JSON.stringify(index));
}

function timed(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function umountUnder(dir: string): void {
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir + '/'));
  for (const m of mounts.sort().reverse()) spawnSync('umount', ['-l', m]);
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-registry-'));
  const reg = await startRegistry('none');
  try {
    const L = path.join(work, 'layout');
    buildLayout(L);
    for (const tag of ['gzip', 'zstd', 'gzip2']) {
      execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${L}:${tag}`, `docker://${reg.host}/bench/img:${tag}`]);
    }
    const sizeOf = (tag: string, only?: number[]): number => {
      const d = (JSON.parse(fs.readFileSync(path.join(L, 'index.json'), 'utf8')).manifests as { digest: string; annotations: Record<string, string> }[]).find((m) => m.annotations['org.opencontainers.image.ref.name'] === tag)!;
      const m = JSON.parse(fs.readFileSync(path.join(L, 'blobs', 'sha256', d.digest.slice(7)), 'utf8')) as { layers: { size: number }[] };
      return m.layers.filter((_, i) => !only || only.includes(i)).reduce((n, l) => n + l.size, 0);
    };
    const ref = (tag: string) => `${reg.host}/bench/img:${tag}`;
    let n = 0;
    const dir = () => path.join(work, `r${n++}`);
    const layerfs = (tag: string, root = dir(), jobs?: number) =>
      timed(process.execPath, [CLI, 'image', 'pull', '-q', '--root', root, ...(jobs ? ['--jobs', String(jobs)] : []), ref(tag)]);
    const podman = (tag: string, root = dir()) =>
      timed('podman', ['--root', root, '--runroot', `${root}-run`, '--storage-driver', 'overlay', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs', 'pull', '-q', '--tls-verify=false', `docker://${ref(tag)}`]);
    const skopeoUmoci = (tag: string) => {
      const d = dir();
      return timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref(tag)}`, `oci:${d}:img`]) + timed('umoci', ['unpack', '--image', `${d}:img`, `${d}-bundle`]);
    };
    const rows: string[][] = [['pull', 'tool', 'seconds', 'MB/s', 'vs podman']];
    const row = (what: string, tool: string, s: number, bytes: number, pod?: number) => rows.push([what, tool, s.toFixed(2), (bytes / 1e6 / s).toFixed(0), pod ? `${(pod / s).toFixed(2)}x` : '']);
    // the registry's files into the page cache first, so no tool pays for them alone
    for (const tag of ['gzip', 'zstd', 'gzip2']) skopeoUmoci(tag === 'zstd' ? 'gzip' : tag);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ROUNDS = Number(process.env.ROUNDS ?? 3);
    for (const tag of ['gzip', 'zstd']) {
      const bytes = sizeOf(tag);
      const tools: [string, () => number][] = [['podman pull', () => podman(tag)], ['layerfs image pull', () => layerfs(tag)]];
      if (tag === 'gzip') tools.push(['skopeo copy + umoci unpack', () => skopeoUmoci(tag)]);
      const times = new Map<string, number[]>(tools.map(([n]) => [n, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < tools.length; i++) {
          const [name, run] = tools[(i + r) % tools.length]!;
          times.get(name)!.push(run());
        }
      }
      const pod = median(times.get('podman pull')!);
      for (const [name] of tools) row(`cold ${tag} (${(bytes / 1e6).toFixed(0)} MB), median of ${ROUNDS}`, name, median(times.get(name)!), bytes, name === 'podman pull' ? undefined : pod);
    }
    {
      const newBytes = sizeOf('gzip2', [3]);
      const pr = dir();
      podman('gzip', pr);
      const pod = podman('gzip2', pr);
      const lr = dir();
      layerfs('gzip', lr);
      const ours = layerfs('gzip2', lr);
      row(`second image, shared base (${(newBytes / 1e6).toFixed(1)} MB new)`, 'podman pull', pod, newBytes);
      row('second image, shared base', 'layerfs image pull', ours, newBytes, pod);
    }
    for (const jobs of [1, 2, 4, 8]) row(`cold gzip, --jobs ${jobs}`, 'layerfs image pull', layerfs('gzip', dir(), jobs), sizeOf('gzip'));
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`);
  } finally {
    umountUnder(work);
    await reg.stop();
    if (!process.argv.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
