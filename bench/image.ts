#!/usr/bin/env node
/**
 * The image side against its peers, side by side in one interleaved run:
 *   - import + extraction of a real-sized image (a debootstrap minbase root split into 4 layers;
 *     the cached /var/cache/layerfs-test tarball, else layers built from this machine's /usr), gzip
 *     and zstd: `layerfs image import oci-archive:` vs `umoci unpack` (gzip only: umoci 0.4 has no
 *     zstd; from the layout directory) vs `podman load` of the same archive
 *   - commit of a 100 MB change: `layerfs container commit` vs `umoci repack` vs `podman commit`
 *   node dist/bench/image.js [--rounds N] [--no-podman]
 * Prints markdown tables (median seconds, MB/s of uncompressed layer data, ratios) and writes
 * bench/results/image.json.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../lib/image';
import { tarLayer, writeOciLayout } from '../test/image/helpers';

const argv = process.argv.slice(2);
const ROUNDS = Number(argv[argv.indexOf('--rounds') + 1]) || 3;
const PODMAN = !argv.includes('--no-podman');
const CLI = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const MINBASE = '/var/cache/layerfs-test/bookworm-minbase.tar';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-bench-image-'));
const cleanups: (() => void)[] = [];
process.on('exit', () => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
});
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28, ...opts });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timed(fn: () => unknown): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function podmanArgs(base: string, extra: string[]): string[] {
  return ['--root', path.join(base, 'root'), '--runroot', path.join(base, 'run'), '--tmpdir', path.join(base, 'tmp'), '--storage-driver', 'overlay',
    '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...extra];
}
function podman(base: string, ...extra: string[]): string {
  return run('podman', podmanArgs(base, extra));
}
function podmanReset(base: string): void {
  try {
    podman(base, 'system', 'reset', '-f');
  } catch {
    /* best effort */
  }
  fs.rmSync(base, { recursive: true, force: true });
}

/** The root filesystem to split: the minbase tarball unpacked, else a tree from /usr. */
function sourceTree(): { root: string; groups: string[][]; what: string } {
  const root = path.join(work, 'rootfs');
  fs.mkdirSync(root);
  if (fs.existsSync(MINBASE)) {
    run('tar', ['-xf', MINBASE, '-C', root, '--numeric-owner']);
    const top = fs.readdirSync(root).filter((n) => n !== 'usr' && n !== 'var').map((n) => `./${n}`);
    const usr = fs.readdirSync(path.join(root, 'usr')).filter((n) => n !== 'lib' && n !== 'share').map((n) => `./usr/${n}`);
    return { root, groups: [top, ['./usr/lib'], usr, ['./usr/share', './var']], what: 'debootstrap minbase (bookworm) in 4 layers' };
  }
  const parts = ['sbin', 'include', 'share/doc', 'share/man'];
  for (const p of parts) run('cp', ['-a', `/usr/${p}`, path.join(root, p.replace('/', '-'))]);
  return { root, groups: parts.map((p) => [`./${p.replace('/', '-')}`]), what: '/usr/{sbin,include,share/doc,share/man} in 4 layers' };
}

function buildImages(): { what: string; bytes: number; files: number; archives: Record<string, string>; layouts: Record<string, string> } {
  const src = sourceTree();
  const archives: Record<string, string> = {};
  const layouts: Record<string, string> = {};
  let bytes = 0;
  const tars = src.groups.map((g, i) => {
    const out = path.join(work, `layer${i}.tar`);
    run('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--sort=name', '-cf', out, '-C', src.root, ...g]);
    bytes += fs.statSync(out).size;
    return out;
  });
  const files = Number(run('sh', ['-c', `find ${src.root} | wc -l`]).trim());
  for (const c of ['gzip', 'zstd'] as const) {
    const layers = tars.map((t) => {
      if (c === 'gzip') run('pigz', ['-k', '-f', '-6', t]);
      else run('zstd', ['-q', '-f', '-3', t, '-o', `${t}.zst`]);
      return { file: c === 'gzip' ? `${t}.gz` : `${t}.zst`, mediaType: `application/vnd.oci.image.layer.v1.tar+${c}` };
    });
    const layout = path.join(work, `layout-${c}`);
    writeOciLayout(layout, 'bench', layers);
    layouts[c] = layout;
    archives[c] = path.join(work, `image-${c}.oci.tar`);
    run('tar', ['-cf', archives[c], '-C', layout, '.']);
  }
  fs.rmSync(src.root, { recursive: true, force: true });
  return { what: src.what, bytes, files, archives, layouts };
}

/** ~100 MB of real files (shared libraries) to add in a container. */
function changeSet(): string {
  const dir = path.join(work, 'change');
  fs.mkdirSync(dir);
  let total = 0;
  const libs = '/usr/lib/x86_64-linux-gnu';
  for (const n of fs.readdirSync(libs).sort()) {
    const p = path.join(libs, n);
    const st = fs.lstatSync(p);
    if (!st.isFile() || st.size < 50_000) continue;
    fs.copyFileSync(p, path.join(dir, n));
    total += st.size;
    if (total >= 100e6) break;
  }
  return dir;
}

interface Row { task: string; impl: string; seconds: number; mbps: number }

async function main(): Promise<void> {
  const rows: Row[] = [];
  console.error('bench image: building the image (4 layers, gzip and zstd)...');
  const img = buildImages();
  const mb = img.bytes / 1e6;
  console.error(`bench image: ${img.what}: ${mb.toFixed(0)} MB uncompressed, ${img.files} files`);
  const imports: Record<string, number[]> = {};
  const add = (k: string, s: number) => (imports[k] ??= []).push(s);
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of ['gzip', 'zstd'] as const) {
      add(`${c}|layerfs image import`, await timed(() => run(process.execPath, [CLI, 'image', 'import', '-q', `oci-archive:${img.archives[c]}:bench`, 'bench'])));
      fs.rmSync(process.env.LAYERFS_ROOT!, { recursive: true, force: true });
      if (c === 'gzip') {
        const b = path.join(work, `umoci-${r}`);
        add(`${c}|umoci unpack`, await timed(() => run('umoci', ['unpack', '--image', `${img.layouts[c]}:bench`, b])));
        fs.rmSync(b, { recursive: true, force: true });
      }
      if (PODMAN) {
        const pb = path.join(work, `podman-${c}-${r}`);
        add(`${c}|podman load`, await timed(() => podman(pb, 'load', '-q', '-i', img.archives[c])));
        podmanReset(pb);
      }
    }
  }
  for (const [k, xs] of Object.entries(imports)) {
    const [c, impl] = k.split('|');
    const s = median(xs);
    rows.push({ task: `import ${c}`, impl, seconds: s, mbps: mb / s });
  }

  // commit of a 100 MB change
  const change = changeSet();
  const changeMB = Number(run('du', ['-sb', change]).split('\t')[0]) / 1e6;
  const commits: Record<string, number[]> = {};
  const addc = (k: string, s: number) => (commits[k] ??= []).push(s);
  const canCommit = true;
  const store = await Store.open({ root: process.env.LAYERFS_ROOT });
  await store.import(`oci:${img.layouts.gzip}:bench`, 'bench');
  if (PODMAN) podman(path.join(work, 'podman-commit'), 'load', '-q', '-i', img.archives.gzip);
  cleanups.push(() => podmanReset(path.join(work, 'podman-commit')));
  const ub = path.join(work, 'umoci-commit');
  run('umoci', ['unpack', '--image', `${img.layouts.gzip}:bench`, ub]);
  for (let r = 0; r < ROUNDS; r++) {
    if (canCommit) {
      for (const comp of ['gzip', 'zstd'] as const) {
        const c = await store.createContainer('bench');
        run('cp', ['-a', change, path.join(c.upper, 'opt-change')]);
        addc(`layerfs container commit (${comp})`, await timed(() => run(process.execPath, [CLI, 'container', 'commit', c.name, `bench:c${r}${comp}`, '--compression', comp])));
        await store.removeContainer(c.name);
        await store.rmi(`bench:c${r}${comp}`);
      }
    }
    run('cp', ['-a', change, path.join(ub, 'rootfs', `opt-change-${r}`)]);
    addc('umoci repack (gzip)', await timed(() => run('umoci', ['repack', '--image', `${img.layouts.gzip}:c${r}`, ub])));
    if (PODMAN) {
      const pb = path.join(work, 'podman-commit');
      const id = podman(pb, 'create', 'bench', 'true').trim();
      const merged = podman(pb, 'mount', id).trim();
      run('cp', ['-a', change, path.join(merged, 'opt-change')]);
      addc('podman commit', await timed(() => podman(pb, 'commit', '-q', id, `c${r}`)));
      podman(pb, 'rm', '-f', id);
    }
  }
  store.close();
  for (const [impl, xs] of Object.entries(commits)) {
    const s = median(xs);
    rows.push({ task: `commit ${changeMB.toFixed(0)} MB`, impl, seconds: s, mbps: changeMB / s });
  }

  console.log(`\nimage: ${img.what}: ${mb.toFixed(0)} MB uncompressed, ${img.files} files; commit: ${changeMB.toFixed(0)} MB of shared libraries added; median of ${ROUNDS} interleaved rounds; ${os.cpus().length} CPUs\n`);
  console.log('| task | implementation | seconds | MB/s | layerfs / this (time) |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const ours = rows.find((x) => x.task === r.task && x.impl.startsWith('layerfs') && (r.task.startsWith('import') || x.impl.includes('gzip')));
    const ratio = ours ? (ours.seconds / r.seconds).toFixed(2) : '-';
    console.log(`| ${r.task} | ${r.impl} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${ratio} |`);
  }
  const out = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'image.json'), JSON.stringify({ date: new Date().toISOString(), what: img.what, mb, files: img.files, changeMB, rounds: ROUNDS, rows }, null, 1));
}

process.env.LAYERFS_ROOT = path.join(work, 'store');
main().then(() => process.exit(0), (err) => {
  console.error(`bench image: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
