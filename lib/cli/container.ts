/** `layerfs container ...`: create, mount, umount, rm, ls, diff, commit, bundle. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtimeSpec } from '../image/bundle';
import type { Container } from '../image/container';
import { ImageError } from '../image/errors';
import type { Store } from '../image/store/store';
import { openStore, parseArgs, Parsed, quiet, str } from './image-args';
import { UsageError } from './options';

export const CONTAINER_USAGE = `usage: layerfs container <command> [--root DIR] [options]
  create IMAGE [--name NAME]       a writable layer over IMAGE; prints the container's name
  mount NAME [MNT]                 mounts its root filesystem (default MNT: the store's
                                   containers/ID/rootfs) with a background server; prints MNT
  umount NAME                      unmounts it
  rm [-f] NAME...                  removes it (-f: a mounted one too, unmounted first)
  ls                               name, id, image, created, mountpoint
  diff NAME                        A (added), C (changed), D (deleted) paths against the image
  commit NAME IMAGE[:TAG] [--compression gzip|zstd|none] [-m MESSAGE]
                                   the writable layer as a new image; prints its digest
  bundle NAME DIR                  an OCI runtime bundle (DIR/config.json, root: the mounted
                                   rootfs, mounted if it is not) for \`runc run -b DIR ID\``;

function need(p: Parsed, n: number, what: string): void {
  if (p.positional.length < n) throw new UsageError(`usage: layerfs container ${what}`);
}

/** Mounts a container with a background server (the `layerfs -o ...` mount command). */
async function mountInBackground(c: Container, mnt: string): Promise<string> {
  const at = c.mountedAt();
  if (at !== null) return at;
  const o = c.mountOptions(mnt);
  const dirs = [...o.lower, o.upper!, o.work!];
  if (dirs.some((d) => /[:,\\]/.test(d))) throw new ImageError('EINVAL', `the store's path has a ':', ',' or '\\' that mount options cannot carry: ${o.upper}`);
  fs.mkdirSync(o.mountpoint, { recursive: true });
  const { mountCommand } = await import('./mount-command');
  const code = await mountCommand(['-o', `lowerdir=${o.lower.join(':')},upperdir=${o.upper},workdir=${o.work}`, o.mountpoint]);
  if (code !== 0) throw new ImageError('EINVAL', `container "${c.name}": mount failed`);
  await c.setMounted(o.mountpoint);
  return o.mountpoint;
}

export async function containerCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const out = (s: string) => process.stdout.write(s);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    out(CONTAINER_USAGE + '\n');
    return sub === undefined ? 2 : 0;
  }
  const p = parseArgs(rest, { valued: ['--name', '--compression', '-m', '--message', '--author'], bool: ['-f', '--force', '-l'] }, CONTAINER_USAGE);
  let store: Store | undefined;
  try {
    store = await openStore(p);
    switch (sub) {
      case 'create': {
        need(p, 1, 'create IMAGE [--name NAME]');
        const c = await store.createContainer(p.positional[0], { name: str(p, '--name') });
        out(`${c.name}\n`);
        return 0;
      }
      case 'mount': {
        need(p, 1, 'mount NAME [MNT]');
        const c = store.container(p.positional[0]);
        out(`${await mountInBackground(c, p.positional[1] ?? c.rootfs)}\n`);
        return 0;
      }
      case 'umount':
      case 'unmount': {
        need(p, 1, 'umount NAME');
        await store.container(p.positional[0]).umount({ lazy: p.flags.has('-l') });
        return 0;
      }
      case 'rm': {
        need(p, 1, 'rm [-f] NAME...');
        for (const n of p.positional) await store.removeContainer(n, { force: p.flags.has('-f') || p.flags.has('--force') });
        return 0;
      }
      case 'ls':
      case 'list': {
        const rows = [['NAME', 'ID', 'IMAGE', 'CREATED', 'MOUNTED']];
        for (const rec of store.containers()) {
          const c = store.container(rec.id);
          rows.push([rec.name, rec.id.slice(0, 12), rec.imageName, rec.created.replace(/\.\d+Z$/, 'Z'), c.mountedAt() ?? '-']);
        }
        if (quiet(p)) for (const r of rows.slice(1)) out(`${r[0]}\n`);
        else {
          const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
          out(rows.map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i]))).join('  ')).join('\n') + '\n');
        }
        return 0;
      }
      case 'diff': {
        need(p, 1, 'diff NAME');
        for (const ch of store.container(p.positional[0]).diff()) out(`${ch.kind} ${ch.path}\n`);
        return 0;
      }
      case 'commit': {
        need(p, 2, 'commit NAME IMAGE[:TAG]');
        const compression = (str(p, '--compression') ?? 'gzip') as 'gzip' | 'zstd' | 'none';
        const img = await store.container(p.positional[0]).commit(p.positional[1], { compression, message: str(p, '-m') ?? str(p, '--message'), author: str(p, '--author') });
        out(`${img.digest}\n`);
        return 0;
      }
      case 'bundle': {
        need(p, 2, 'bundle NAME DIR');
        const c = store.container(p.positional[0]);
        const rootfs = await mountInBackground(c, c.rootfs);
        const dir = path.resolve(p.positional[1]);
        fs.mkdirSync(dir, { recursive: true });
        const spec = runtimeSpec(store.config(store.image(c.image)), rootfs, c.name);
        fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
        if (!quiet(p)) out(`${dir}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown container command "${sub}"\n${CONTAINER_USAGE}`);
    }
  } finally {
    store?.close();
  }
}
