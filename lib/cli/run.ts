import * as os from 'node:os';
import * as path from 'node:path';
import { mountCommand, umountCommand } from './mount-command';
import { UsageError } from './options';
import { cliHelp } from '../options';

const USAGE = `usage: layerfs [-f] [-d] -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W][,OPTS] [SOURCE] MOUNTPOINT
       layerfs umount [-l] MOUNTPOINT
       layerfs <command> [options]

mount (a drop-in for fuse-overlayfs; also run by mount -t fuse.layerfs through mount.fuse3):
  -f             stay in the foreground (default: exit 0 once the mount answers, server in background)
  -d             foreground, and print every FUSE request and reply
  -o OPTS        comma-separated options (fuse-overlayfs and mount(8) ones are accepted; unknown
                 ones are reported and ignored):
${cliHelp('    ')}

commands:
  image ...      the image store: import, export, ls, inspect, tag, rm, prune, df (layerfs image --help)
  login HOST     stores registry credentials (verified first) in layerfs's auth file; logout HOST
  container ...  containers: create, mount, umount, rm, ls, diff, commit, bundle (layerfs container --help)
  umount MNT     unmount (the server syncs the upper and exits); -l detaches a busy mount
  tree -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W] [PATH]
                 print the merged tree (or the subtree at PATH) with the layer each object comes from
  bench [--quick] [--workloads REGEX] [--out DIR] ...
                 measure layerfs against kernel overlayfs and fuse-overlayfs on the same layers
                 (layerfs bench --help); --compare OLD.csv NEW.csv shows what changed
  demo [DIR]     the image flow in DIR (default: a temp dir): a sample OCI image imported into a
                 store, a container mounted, changed, diffed, committed, exported, and the export
                 checked against umoci's unpack of it
  demo --layers [DIR]  sample layers, their merged view, checked against the kernel's overlayfs
  --help         this text
  --version      the layerfs version
`;

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
      case 'tree':
        return (await import('./tree')).treeCommand(rest);
      case 'demo': {
        if (rest[0] === '--layers') {
          const [{ runDemo }, { writeSampleLayers }] = await Promise.all([import('./demo'), import('./sample-layers')]);
          return await runDemo(rest[1] ?? path.join(os.tmpdir(), 'layerfs-demo'), writeSampleLayers);
        }
        return await (await import('./image-demo')).runImageDemo(rest[0] ?? path.join(os.tmpdir(), 'layerfs-demo'));
      }
      case 'umount':
        return await umountCommand(rest);
      case 'image':
      case 'images':
        return await (await import('./image')).imageCommand(rest);
      case 'container':
        return await (await import('./container')).containerCommand(rest);
      case 'bench':
        return await (await import('../bench/cli')).benchCommand(rest);
      case 'login':
        return await (await import('./registry')).loginCommand(rest);
      case 'logout':
        return await (await import('./registry')).logoutCommand(rest);
      default:
        return await mountCommand(argv);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`layerfs: ${err.message}\n`);
      return 2;
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
