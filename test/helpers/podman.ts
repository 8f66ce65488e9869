import { execFileSync, ExecFileSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A root filesystem tarball for container tests: debootstrap minbase, built once and cached. */
export const ROOTFS_CACHE = '/var/cache/layerfs-test';

export function rootfsTarball(): string {
  const tar = path.join(ROOTFS_CACHE, 'bookworm-minbase.tar');
  if (fs.existsSync(tar)) return tar;
  fs.mkdirSync(ROOTFS_CACHE, { recursive: true });
  const dir = path.join(ROOTFS_CACHE, 'rootfs-build');
  fs.rmSync(dir, { recursive: true, force: true });
  execFileSync('debootstrap', ['--variant=minbase', 'bookworm', dir, 'http://deb.debian.org/debian'], { stdio: 'ignore', timeout: 15 * 60_000 });
  execFileSync('tar', ['-C', dir, '-cf', tar + '.part', '.']);
  fs.renameSync(tar + '.part', tar);
  fs.rmSync(dir, { recursive: true, force: true });
  return tar;
}

/** podman with private storage, as root here needs it (runc, cgroupfs, no events, no network). */
export class Podman {
  readonly root: string;
  /** `mountOptions`: more options for every mount (containers/storage's overlay.mountopt). */
  /** `env`: more environment for podman (and the mount program it runs). */
  constructor(readonly base: string, readonly mountProgram: string, readonly mountOptions = '', readonly env: NodeJS.ProcessEnv = {}) {
    this.root = path.join(base, 'storage');
  }

  args(extra: string[]): string[] {
    return [
      '--root', this.root, '--runroot', path.join(this.base, 'run'), '--tmpdir', path.join(this.base, 'tmp'),
      '--storage-driver', 'overlay', '--storage-opt', `overlay.mount_program=${this.mountProgram}`,
      ...(this.mountOptions === '' ? [] : ['--storage-opt', `overlay.mountopt=${this.mountOptions}`]),
      '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...extra,
    ];
  }

  run(extra: string[], opts: ExecFileSyncOptions = {}): string {
    return execFileSync('podman', this.args(extra), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5 * 60_000, env: { ...process.env, ...this.env }, ...opts }) as string;
  }

  /** `podman run` flags every container here needs. */
  static runFlags = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

  cleanup(): void {
    for (const a of [['rm', '-af', '-t', '0'], ['rmi', '-af'], ['system', 'reset', '-f']]) {
      try {
        this.run(a);
      } catch {
        /* best effort */
      }
    }
    // Anything podman left mounted under our storage.
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(this.base));
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

/** A tiny .deb for `dpkg -i` inside the container. */
export function buildTestDeb(dir: string): string {
  const root = path.join(dir, 'deb');
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share/layerfs-test'), { recursive: true });
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), 'Package: layerfs-test\nVersion: 1.0\nArchitecture: all\nMaintainer: layerfs <layerfs@example.invalid>\nDescription: layerfs test package\n');
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, `usr/share/layerfs-test/file${i}`), `data ${i}\n`.repeat(100));
  // dpkg-deb wants 0755 directories whatever the umask of the test process.
  for (const d of ['', 'DEBIAN', 'usr', 'usr/share', 'usr/share/layerfs-test']) fs.chmodSync(path.join(root, d), 0o755);
  const deb = path.join(dir, 'layerfs-test.deb');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', root, deb], { stdio: ['ignore', 'ignore', 'pipe'] });
  return deb;
}
