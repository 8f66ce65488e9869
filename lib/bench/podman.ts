/**
 * Container workloads of `layerfs bench` (when podman is installed): container start and `dpkg -i`
 * of a 50-file package inside a container, each implementation as podman's storage backend on its
 * own private storage (same image): layerfs variants and fuse-overlayfs as overlay.mount_program,
 * kernel overlayfs as podman's own overlay driver. The image is a root filesystem tarball:
 * $LAYERFS_BENCH_ROOTFS, else the one the podman tests build (/var/cache/layerfs-test, read only).
 *
 * layerfs is mounted through this build's C launcher (its mount program for container tools),
 * with LAYERFS_NO_SERVICE=1: the machine's mount service socket may belong to a server of another
 * build. Set LAYERFS_NO_SERVICE=0 to measure through the mount service (as containers get it).
 */
import { execFileSync, ExecFileSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LAYERFS_CLI } from './mounts';
import { removeDir } from './system';
import type { ImplSpec, MountContext, Tools, Workload } from './types';

/** The mount program container tools run (native-bindings/src/launcher.c), next to dist/. */
const LAUNCHER = path.join(__dirname, '..', '..', '..', 'native-bindings', 'build', 'Release', 'layerfs');
const DEFAULT_ROOTFS = '/var/cache/layerfs-test/bookworm-minbase.tar';
const IMAGE = 'localhost/layerfs-bench:base';
const RUN_FLAGS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

export function rootfsTarball(): string | null {
  const t = process.env.LAYERFS_BENCH_ROOTFS ?? DEFAULT_ROOTFS;
  return fs.existsSync(t) ? t : null;
}

/** How podman runs `impl`: a mount program and mount options, the kernel driver, or null (not applicable). */
export function storageFor(impl: ImplSpec): { mountProgram: string | null; mountopt: string[] } | null {
  switch (impl.kind) {
    case 'layerfs':
      return { mountProgram: fs.existsSync(LAUNCHER) ? LAUNCHER : LAYERFS_CLI, mountopt: impl.options };
    case 'kernel':
      return impl.name === 'kernel' ? { mountProgram: null, mountopt: [] } : null;
    case 'command': {
      // A fuse-overlayfs-compatible program without arguments of its own (-f aside) can be podman's.
      const args = impl.argv!.slice(1).filter((a) => a !== '-f');
      if (args.length > 0) return null;
      try {
        return { mountProgram: execFileSync('sh', ['-c', 'command -v "$1"', 'sh', impl.argv![0]], { encoding: 'utf8' }).trim(), mountopt: [] };
      } catch {
        return null;
      }
    }
  }
}

/** podman with private storage, as root here needs it (runc, cgroupfs, no events, no network). */
export class PodmanStore {
  readonly root: string;
  constructor(readonly base: string, readonly storage: { mountProgram: string | null; mountopt: string[] }) {
    this.root = path.join(base, 'storage');
    fs.mkdirSync(base, { recursive: true });
  }

  run(extra: string[], opts: ExecFileSyncOptions = {}): string {
    const s = this.storage;
    const args = [
      '--root', this.root, '--runroot', path.join(this.base, 'run'), '--tmpdir', path.join(this.base, 'tmp'), '--storage-driver', 'overlay',
      ...(s.mountProgram ? ['--storage-opt', `overlay.mount_program=${s.mountProgram}`] : []),
      ...(s.mountopt.length > 0 ? ['--storage-opt', `overlay.mountopt=${s.mountopt.join(',')}`] : []),
      '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...extra,
    ];
    const env = { ...process.env, LAYERFS_NO_SERVICE: process.env.LAYERFS_NO_SERVICE ?? '1' };
    return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5 * 60_000, env, ...opts }) as string;
  }

  cleanup(): void {
    for (const a of [['rm', '-af', '-t', '0'], ['rmi', '-af'], ['system', 'reset', '-f']]) {
      try {
        this.run(a);
      } catch {
        /* best effort */
      }
    }
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(this.base + '/'));
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    removeDir(this.base);
  }
}

/** A 50-file .deb for `dpkg -i` inside the container. */
export function buildBenchDeb(dir: string): string {
  const root = path.join(dir, 'deb');
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share/layerfs-bench'), { recursive: true });
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), 'Package: layerfs-bench\nVersion: 1.0\nArchitecture: all\nMaintainer: layerfs <layerfs@example.invalid>\nDescription: layerfs bench package\n');
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, `usr/share/layerfs-bench/file${i}`), `data ${i}\n`.repeat(100));
  for (const d of ['', 'DEBIAN', 'usr', 'usr/share', 'usr/share/layerfs-bench']) fs.chmodSync(path.join(root, d), 0o755);
  const deb = path.join(dir, 'layerfs-bench.deb');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { stdio: ['ignore', 'ignore', 'pipe'] });
  return deb;
}

/** Per run: one podman store per implementation (image imported, one container run to warm it), made on first use. */
export class PodmanStores {
  private readonly stores = new Map<string, PodmanStore>();
  private base: string | null = null;
  private debDir: string | null = null;

  /** podman limits the runroot path's length: a short base under /tmp. */
  private dir(): string {
    this.base ??= fs.mkdtempSync('/tmp/layerfs-pb-');
    return this.base;
  }

  store(impl: ImplSpec): PodmanStore {
    let s = this.stores.get(impl.name);
    if (s) return s;
    const storage = storageFor(impl);
    if (storage === null) throw new Error(`${impl.name} cannot be podman's storage backend`);
    s = new PodmanStore(path.join(this.dir(), String(this.stores.size)), storage);
    this.stores.set(impl.name, s);
    s.run(['import', rootfsTarball()!, IMAGE]);
    s.run(['run', '--rm', ...RUN_FLAGS, IMAGE, 'true']);
    return s;
  }

  deb(): string {
    if (this.debDir === null) {
      this.debDir = path.join(this.dir(), 'pkg');
      fs.mkdirSync(this.debDir);
      buildBenchDeb(this.debDir);
    }
    return this.debDir;
  }

  cleanup(): void {
    for (const s of this.stores.values()) s.cleanup();
    this.stores.clear();
    if (this.base !== null) removeDir(this.base);
    this.base = null;
    this.debDir = null;
  }
}

export const podmanStores = new PodmanStores();

function unavailable(tools: Tools): string | null {
  if (!tools.podman) return 'podman is not installed';
  if (process.getuid?.() !== 0) return 'podman workloads run as root only here (private storage, runc, cgroupfs)';
  if (rootfsTarball() === null) return `no root filesystem tarball: set LAYERFS_BENCH_ROOTFS=FILE.tar (or build ${DEFAULT_ROOTFS} by running the podman tests once)`;
  return null;
}

const timeMs = (fn: () => void) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

export const PODMAN_WORKLOADS: Workload[] = [
  {
    id: 'podman-start', title: '`podman run --rm IMAGE true` (container start)', layers: 'none', unit: 'ms', dropSensitive: false,
    unavailable, appliesTo: (impl) => storageFor(impl) !== null,
    measure: (ctx: MountContext) => {
      const s = podmanStores.store(ctx.impl);
      return timeMs(() => s.run(['run', '--rm', ...RUN_FLAGS, IMAGE, 'true']));
    },
  },
  {
    id: 'podman-dpkg', title: '`dpkg -i` of a 50-file package in a container (time inside it)', layers: 'none', unit: 'ms', dropSensitive: false,
    unavailable, appliesTo: (impl) => storageFor(impl) !== null,
    measure: (ctx: MountContext) => {
      const s = podmanStores.store(ctx.impl);
      const out = s.run(['run', '--rm', ...RUN_FLAGS, '-v', `${podmanStores.deb()}:/pkg:ro`, IMAGE, 'sh', '-c',
        's=$(date +%s%N); dpkg -i /pkg/layerfs-bench.deb > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))']);
      const us = Number(out.trim().split('\n').pop());
      if (!Number.isFinite(us)) throw new Error(`dpkg -i: unexpected output ${JSON.stringify(out.slice(-200))}`);
      return us / 1000;
    },
  },
];
