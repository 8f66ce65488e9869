import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, Overlay, OverlayError } from '../engine';
import { S } from '../sys';
import { writeSampleLayers } from './sample-layers';
import { runDemo } from './demo';
import { mountCommand, umountCommand } from './mount-command';
import { UsageError, splitLowerdir, splitOptions } from './options';

const USAGE = `usage: layerfs [-f] [-d] -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W][,OPTS] [SOURCE] MOUNTPOINT
       layerfs umount [-l] MOUNTPOINT
       layerfs <command> [options]

mount (a drop-in for fuse-overlayfs; also run by mount -t fuse.layerfs through mount.fuse3):
  -f             stay in the foreground (default: exit 0 once the mount answers, server in background)
  -d             foreground, and print every FUSE request and reply
  -o OPTS        lowerdir=, upperdir=, workdir=, volatile, fsync=0, ro, rw, allow_other, userxattr,
                 redirect_dir=on|follow|off|nofollow, metacopy=on|off, passthrough=on|off,
                 uidmapping=C:H:N[:...], gidmapping=C:H:N[:...], squash_to_root, squash_to_uid=N,
                 squash_to_gid=N, log=FILE; fuse-overlayfs and mount(8) options are accepted
                 (unknown ones are reported and ignored)

commands:
  umount MNT     unmount (the server syncs the upper and exits); -l detaches a busy mount
  tree -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W] [PATH]
                 print the merged tree (or the subtree at PATH) with the layer each object comes from
  demo [DIR]     build sample layers in DIR (default: a temp dir), print their merged view, and,
                 as root, check it against the kernel's overlayfs
  --help         this text
  --version      the layerfs version
`;

function layerLabel(ov: Overlay, index: number): string {
  return index === 0 ? 'upper' : path.basename(ov.config.lower[index - 1]);
}

const TYPE_MARK: Record<number, string> = { [S.IFDIR]: '/', [S.IFLNK]: '@', [S.IFIFO]: '|', [S.IFSOCK]: '=' };

/** Prints the merged tree under `start`, one line per object: path, mode, size, source layer(s). */
export function printTree(ov: Overlay, start: string, out: (line: string) => void): number {
  let count = 0;
  const visit = (p: string) => {
    const node = ov.resolve(p);
    const a = ov.getattr(node);
    const from = node.entries.map((e) => layerLabel(ov, e.layer.index)).join('+');
    const link = node.type === S.IFLNK ? ` -> ${ov.readlink(node)}` : '';
    out(`${(a.mode & 0o7777).toString(8).padStart(4, '0')} ${String(a.size).padStart(8)}  ${p === '' ? '/' : '/' + p + (TYPE_MARK[node.type] ?? '')}${link}  [${from}]`);
    count++;
    if (node.isDir) for (const e of ov.readdir(node).sort((x, y) => (x.name < y.name ? -1 : 1))) visit(p === '' ? e.name : `${p}/${e.name}`);
  };
  visit(start.replace(/^\/+|\/+$/g, ''));
  return count;
}

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      case '--version':
      case '-V':
        process.stdout.write(`layerfs ${require('../../../package.json').version}\n`);
        return 0;
      case 'tree': {
        let opts = '';
        const paths: string[] = [];
        for (let i = 0; i < rest.length; i++) {
          if (rest[i] === '-o') opts += ',' + (rest[++i] ?? '');
          else if (rest[i].startsWith('-o')) opts += ',' + rest[i].slice(2);
          else paths.push(rest[i]);
        }
        const o = new Map(splitOptions(opts).filter((x) => x !== '').map((x) => [x.split('=')[0], x.slice(x.indexOf('=') + 1)]));
        if (!o.has('lowerdir')) throw new Error('tree needs -o lowerdir=TOP:...:BOTTOM');
        const ov = Overlay.open({ lower: splitLowerdir(o.get('lowerdir')!), upper: o.get('upperdir'), work: o.get('workdir') });
        try {
          printTree(ov, paths[0] ?? '/', (l) => process.stdout.write(l + '\n'));
        } finally {
          ov.close();
        }
        return 0;
      }
      case 'demo':
        return await runDemo(rest[0] ?? path.join(os.tmpdir(), 'layerfs-demo'), writeSampleLayers);
      case 'umount':
        return umountCommand(rest);
      default:
        return await mountCommand(argv);
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof OverlayError || err instanceof UsageError) {
      process.stderr.write(`layerfs: ${err.message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const e = err as { code?: string; message?: string; syscall?: string };
    if (typeof e?.code === 'string') {
      // A system error while mounting (no /dev/fuse, not permitted...): one line, no stack.
      process.stderr.write(`layerfs: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
}
