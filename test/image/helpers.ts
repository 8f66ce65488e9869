/** Test helpers for the image side: temp dirs, commands, reference images built with GNU tar and umoci. */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as sys from '../../lib/sys';
import { snapshotMount, TreeSnapshot } from '../helpers/tree';

export const CLI = path.join(__dirname, '..', '..', 'lib', 'cli', 'main.js');

const temps: string[] = [];
/** A temp dir (layerfs- prefix) removed at exit. */
export function tmp(tag = 'img'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `layerfs-${tag}-`));
  temps.push(d);
  return d;
}
process.on('exit', () => {
  for (const d of temps) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* a mount left behind: its own cleanup says so */
    }
  }
});

export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs the layerfs CLI: exit code, stdout, stderr. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const sha256hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A layer tar of `dir` by GNU tar (PAX, xattrs, sparse files), compressed as asked. */
export function tarLayer(dir: string, out: string, compression: 'gzip' | 'zstd' | 'none'): { file: string; mediaType: string } {
  const plain = `${out}.tar`;
  sh('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--sparse', '--numeric-owner', '--sort=name', '-cf', plain, '-C', dir, '.']);
  if (compression === 'none') return { file: plain, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
  if (compression === 'gzip') {
    fs.writeFileSync(`${out}.tgz`, zlib.gzipSync(fs.readFileSync(plain)));
    return { file: `${out}.tgz`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  }
  sh('zstd', ['-q', '-f', plain, '-o', `${out}.tzst`]);
  return { file: `${out}.tzst`, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' };
}

function plainOf(file: string): Buffer {
  const b = fs.readFileSync(file);
  if (b[0] === 0x1f && b[1] === 0x8b) return zlib.gunzipSync(b);
  if (b.readUInt32LE(0) === 0xfd2fb528) return execFileSync('zstd', ['-dcq', file], { maxBuffer: 1 << 30 });
  return b;
}

/** An OCI layout at `layout`, tagged `tag`, of the given layer files (bottom first). */
export function writeOciLayout(layout: string, tag: string, layers: { file: string; mediaType: string }[], cfg: Record<string, unknown> = {}): string {
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (b: Buffer) => {
    const h = sha256hex(b);
    fs.writeFileSync(path.join(blobs, h), b);
    return { digest: `sha256:${h}`, size: b.length };
  };
  const descs = layers.map((l) => ({ mediaType: l.mediaType, ...put(fs.readFileSync(l.file)) }));
  const config = {
    created: '2024-01-02T03:04:05Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], ...cfg },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256hex(plainOf(l.file))}`) },
    history: layers.map(() => ({ created: '2024-01-02T03:04:05Z', created_by: 'test' })),
  };
  const c = put(Buffer.from(JSON.stringify(config)));
  const m = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers: descs })));
  const indexFile = path.join(layout, 'index.json');
  const index = fs.existsSync(indexFile) ? JSON.parse(fs.readFileSync(indexFile, 'utf8')) : { schemaVersion: 2, manifests: [] };
  index.manifests = index.manifests.filter((d: { annotations?: Record<string, string> }) => d.annotations?.['org.opencontainers.image.ref.name'] !== tag);
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': tag } });
  fs.writeFileSync(indexFile, JSON.stringify(index));
  return m.digest;
}

const CAP_NET_RAW = '0100000200200000000000000000000000000000'; // vfs_cap_data v2: cap_net_raw+ep

/**
 * Three layer directories exercising every kind of object and every kind of change: whiteouts of
 * files and directories, opaque directories, hard links, symlinks, xattrs (user.* and
 * security.capability), set-uid, devices, a fifo, a sparse file.
 */
export function makeRichLayers(base: string): string[] {
  const l1 = path.join(base, 'l1');
  const l2 = path.join(base, 'l2');
  const l3 = path.join(base, 'l3');
  const w = (root: string, rel: string, data: string | Buffer, mode = 0o644) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.chmodSync(p, mode);
  };
  // l1: the base
  w(l1, 'etc/motd', 'welcome\n');
  w(l1, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n');
  w(l1, 'etc/group', 'root:x:0:\nwww:x:33:\n');
  w(l1, 'etc/gone/a', 'a');
  w(l1, 'etc/gone/b/c', 'c');
  w(l1, 'usr/share/doc/old1', 'old');
  w(l1, 'usr/share/doc/sub/old2', 'old');
  w(l1, 'bin/tool', '#!/bin/sh\necho tool\n', 0o755);
  w(l1, 'bin/su', 'setuid thing', 0o4755);
  w(l1, 'bin/ping', 'ping binary', 0o755);
  sys.setxattrat(sys.AT.FDCWD, path.join(l1, 'bin/ping'), 'security.capability', Buffer.from(CAP_NET_RAW, 'hex'));
  sys.setxattrat(sys.AT.FDCWD, path.join(l1, 'bin/tool'), 'user.origin', Buffer.from([0, 1, 2, 255]));
  fs.linkSync(path.join(l1, 'bin/tool'), path.join(l1, 'bin/tool-hardlink'));
  fs.symlinkSync('tool', path.join(l1, 'bin/tool-link'));
  fs.symlinkSync('/etc/motd', path.join(l1, 'etc/motd-abs'));
  fs.mkdirSync(path.join(l1, 'dev'));
  sh('mknod', ['-m', '666', path.join(l1, 'dev/null'), 'c', '1', '3']);
  sh('mknod', ['-m', '660', path.join(l1, 'dev/loop9'), 'b', '7', '9']);
  fs.mkdirSync(path.join(l1, 'run'));
  sh('mkfifo', ['-m', '600', path.join(l1, 'run/fifo')]);
  const sparse = path.join(l1, 'var/sparse');
  fs.mkdirSync(path.dirname(sparse), { recursive: true });
  const fd = fs.openSync(sparse, 'w');
  fs.writeSync(fd, 'start', 0);
  fs.writeSync(fd, 'middle', 3 << 20);
  fs.ftruncateSync(fd, 8 << 20);
  fs.closeSync(fd);
  w(l1, 'var/www/index.html', '<p>hi</p>\n');
  fs.chownSync(path.join(l1, 'var/www'), 33, 33);
  fs.chownSync(path.join(l1, 'var/www/index.html'), 33, 33);
  fs.chmodSync(path.join(l1, 'var/www'), 0o2775);
  fs.chmodSync(path.join(l1, 'var'), 0o755);
  // l2: whiteouts of a file and a directory, an opaque directory, a changed setuid file, a new hard link pair
  w(l2, 'etc/.wh.motd', '');
  w(l2, 'etc/.wh.gone', '');
  w(l2, 'usr/share/doc/.wh..wh..opq', '');
  w(l2, 'usr/share/doc/new', 'new doc\n');
  w(l2, 'bin/su', 'setuid thing v2', 0o4750);
  w(l2, 'opt/data/one', 'one\n', 0o600);
  fs.linkSync(path.join(l2, 'opt/data/one'), path.join(l2, 'opt/data/two'));
  sys.setxattrat(sys.AT.FDCWD, path.join(l2, 'opt/data'), 'user.dir', Buffer.from('dirval'));
  // l3: a directory whited out and recreated, a file replaced by a symlink, chmod'ed file
  w(l3, 'usr/share/.wh.doc', '');
  w(l3, 'usr/share/doc/again', 'again\n');
  w(l3, 'bin/tool-link', 'now a file', 0o640);
  w(l3, 'bin/ping', 'ping binary', 0o700);
  sys.setxattrat(sys.AT.FDCWD, path.join(l3, 'bin/ping'), 'security.capability', Buffer.from(CAP_NET_RAW, 'hex'));
  const times = new Date('2024-01-02T03:04:05Z');
  for (const l of [l1, l2, l3]) {
    const visit = (p: string) => {
      const st = fs.lstatSync(p);
      if (st.isDirectory()) for (const n of fs.readdirSync(p)) visit(path.join(p, n));
      if (!st.isSymbolicLink()) fs.utimesSync(p, times, times);
      else sh('touch', ['-h', '-d', '2024-01-02T03:04:05Z', p]);
    };
    visit(l);
  }
  return [l1, l2, l3];
}

/** A tree snapshot with security.capability (snapshotMount leaves security.* out). */
export function snapshotWithCaps(root: string): TreeSnapshot {
  const s = snapshotMount(root);
  for (const [rel, rec] of Object.entries(s)) {
    if (rec.type !== 'file') continue;
    const cap = sys.getxattrat(sys.AT.FDCWD, path.join(root, rel), 'security.capability');
    if (cap !== null) rec.xattrs['security.capability'] = cap.toString('hex');
  }
  return s;
}

/** Lines describing how two snapshots differ ('' when equal), ignoring `ignore` fields. */
export function compareSnapshots(a: TreeSnapshot, b: TreeSnapshot, ignore: (rel: string, field: string) => boolean = () => false): string {
  const out: string[] = [];
  for (const rel of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[rel] as unknown as Record<string, unknown> | undefined;
    const y = b[rel] as unknown as Record<string, unknown> | undefined;
    if (!x || !y) {
      out.push(`${rel}: only in ${x ? 'first' : 'second'}`);
      continue;
    }
    for (const f of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (ignore(rel, f)) continue;
      if (JSON.stringify(x[f]) !== JSON.stringify(y[f])) out.push(`${rel} ${f}: ${JSON.stringify(x[f])} != ${JSON.stringify(y[f])}`);
    }
  }
  return out.sort().join('\n');
}

/** Path groups of hard links (same inode), as sorted lists of paths: comparable between trees. */
export function hardLinkGroups(root: string): string[][] {
  const by = new Map<string, string[]>();
  const visit = (rel: string) => {
    const st = fs.lstatSync(path.join(root, rel));
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(path.join(root, rel))) visit(rel ? `${rel}/${n}` : n);
    } else if (st.nlink > 1) by.set(String(st.ino), [...(by.get(String(st.ino)) ?? []), rel]);
  };
  visit('');
  return [...by.values()].map((g) => g.sort()).sort((p, q) => p[0].localeCompare(q[0]));
}

export function mounted(mnt: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mnt);
}

/** umoci's rootfs of an image (the reference for every comparison). */
export function umociUnpack(layout: string, tag: string, into: string): string {
  sh('umoci', ['unpack', '--image', `${layout}:${tag}`, into]);
  return path.join(into, 'rootfs');
}

/** Resolves when `fn` rejects with a message matching `re` (uvu has no assert.rejects). */
export async function rejects(fn: () => Promise<unknown>, re: RegExp | ((e: Error) => boolean), what = ''): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error;
    const ok = typeof re === 'function' ? re(e) : re.test(e.message);
    if (!ok) throw new Error(`${what}: rejected with an unexpected error: ${e.message}`);
    return e;
  }
  throw new Error(`${what}: expected a rejection`);
}
