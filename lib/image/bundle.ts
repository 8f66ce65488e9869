/**
 * An OCI runtime bundle's config.json (runtime-spec 1.0) derived from an image config the way
 * umoci and podman derive it: Entrypoint + Cmd, Env, WorkingDir, User (resolved in the rootfs's
 * /etc/passwd and /etc/group), volumes as tmpfs; runc's default namespaces, mounts and masks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError } from './errors';
import type { ImageConfig } from './types';

function lookup(file: string, name: string): string[] | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  } catch {
    return undefined;
  }
}

/** "user[:group]" (names or numbers) -> uid, gid, from the rootfs's passwd and group files. */
export function resolveUser(rootfs: string, spec: string | undefined): { uid: number; gid: number } {
  if (!spec) return { uid: 0, gid: 0 };
  const [u, g] = spec.split(':');
  let uid: number;
  let gid = 0;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const pw = fs.existsSync(path.join(rootfs, 'etc/passwd')) ? fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === u) : undefined;
    if (pw) gid = Number(pw[3]);
  } else {
    const pw = lookup(path.join(rootfs, 'etc/passwd'), u);
    if (!pw) throw new ImageError('ENOTFOUND', `user "${u}" is not in the image's /etc/passwd`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const gr = lookup(path.join(rootfs, 'etc/group'), g);
      if (!gr) throw new ImageError('ENOTFOUND', `group "${g}" is not in the image's /etc/group`);
      gid = Number(gr[2]);
    }
  }
  return { uid, gid };
}

export function runtimeSpec(config: ImageConfig, rootfs: string, hostname: string): object {
  const c = config.config ?? {};
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (args.length === 0) throw new ImageError('EINVAL', 'the image names no command (no Entrypoint and no Cmd)');
  const env = c.Env ?? [];
  if (!env.some((e) => e.startsWith('PATH='))) env.push('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
  const volumes = Object.keys(c.Volumes ?? {}).sort().map((v) => ({ destination: v, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] }));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: resolveUser(rootfs, c.User),
      args,
      env,
      cwd: c.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: false },
    hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...volumes,
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
    annotations: { 'org.opencontainers.image.created': config.created ?? '' },
  };
}
