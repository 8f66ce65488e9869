/** `layerfs image ...`: import, export, ls, inspect, tag, rm, prune, df. */
import { digestHex } from '../image/digest';
import { parsePlatform } from '../image/platform';
import type { Store } from '../image/store/store';
import { openStore, parseArgs, Parsed, quiet, str } from './image-args';
import { UsageError } from './options';
import { createProgress, formatBytes } from './progress';

export const IMAGE_USAGE = `usage: layerfs image <command> [--root DIR] [options]
  import SOURCE [NAME[:TAG]] [--platform OS/ARCH[/VARIANT]] [-q]
                     SOURCE: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG],
                     tarball:FILE (a root filesystem tarball, plain, gzip or zstd)
  export IMAGE DEST  DEST: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]
  ls                 name, tag, digest, size, created (--digests: full digests, -q: digests only)
  inspect IMAGE      JSON: manifest, config, layers (sizes, how many images share each)
  tag IMAGE NAME[:TAG]
  rm IMAGE...        removes the tag (the image when no tag is left), then what nothing else uses
  prune              removes unreferenced layers and blobs
  df                 space used: layers shared by several images, unique ones, blobs, containers
The store: --root DIR, else LAYERFS_ROOT, else /var/lib/layerfs (root) or $XDG_DATA_HOME/layerfs.
IMAGE is NAME[:TAG] (tag latest by default), NAME@sha256:..., sha256:... or a digest prefix.`;

function need(p: Parsed, n: number, what: string): void {
  if (p.positional.length < n) throw new UsageError(`usage: layerfs image ${what}`);
}

const ago = (iso?: string) => (iso ? iso.replace(/\.\d+Z?$/, 'Z').replace('T', ' ') : '-');

function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n') + '\n';
}

export async function imageCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const out = (s: string) => process.stdout.write(s);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    out(IMAGE_USAGE + '\n');
    return sub === undefined ? 2 : 0;
  }
  const p = parseArgs(rest, { valued: ['--platform'], bool: ['--digests', '-f', '--force'] }, IMAGE_USAGE);
  let store: Store | undefined;
  try {
    switch (sub) {
      case 'import': {
        need(p, 1, 'import SOURCE [NAME[:TAG]]');
        store = await openStore(p);
        const platform = str(p, '--platform');
        const view = createProgress({ quiet: quiet(p), verb: 'stored' });
        try {
          const img = await store.import(p.positional[0], p.positional[1], { onProgress: view.onProgress, platform: platform ? parsePlatform(platform) : undefined });
          view.stop();
          out(`${img.digest}\n`);
        } finally {
          view.stop();
        }
        return 0;
      }
      case 'export': {
        need(p, 2, 'export IMAGE DEST');
        store = await openStore(p);
        const view = createProgress({ quiet: quiet(p), verb: 'written' });
        try {
          const r = await store.export(p.positional[0], p.positional[1], { onProgress: view.onProgress });
          view.stop();
          if (!quiet(p)) out(`${r.digest}\n`);
        } finally {
          view.stop();
        }
        return 0;
      }
      case 'ls':
      case 'list': {
        store = await openStore(p);
        const imgs = store.images();
        if (quiet(p)) {
          for (const i of imgs) out(`${i.digest}\n`);
          return 0;
        }
        const full = p.flags.has('--digests');
        const rows = [['NAME', 'TAG', 'DIGEST', 'SIZE', 'CREATED']];
        for (const i of imgs) {
          const d = full ? i.digest : digestHex(i.digest).slice(0, 12);
          const size = formatBytes(i.layers.reduce((n, l) => n + l.size, 0));
          const tags = i.tags.length > 0 ? i.tags : ['<none>:<none>'];
          for (const t of tags) {
            const c = t.lastIndexOf(':');
            rows.push([t.slice(0, c), t.slice(c + 1), d, size, ago(i.created)]);
          }
        }
        out(table(rows));
        return 0;
      }
      case 'inspect': {
        need(p, 1, 'inspect IMAGE');
        store = await openStore(p);
        const img = store.image(p.positional[0]);
        const users = store.layerUsers();
        const manifest = JSON.parse(store.readBlob(img.digest).toString());
        out(JSON.stringify({
          digest: img.digest,
          tags: img.tags,
          created: img.created,
          added: img.added,
          size: img.size,
          manifest,
          config: store.config(img),
          layers: img.layers.map((l) => ({
            digest: l.blob.digest, mediaType: l.blob.mediaType, size: l.blob.size, diffID: l.diffID, uncompressedSize: l.size,
            sharedBy: users.get(l.diffID) ?? 0, path: store!.layerDir(l.diffID),
          })),
        }, null, 2) + '\n');
        return 0;
      }
      case 'tag': {
        need(p, 2, 'tag IMAGE NAME[:TAG]');
        store = await openStore(p);
        await store.tag(p.positional[0], p.positional[1]);
        return 0;
      }
      case 'rm':
      case 'rmi': {
        need(p, 1, 'rm IMAGE...');
        store = await openStore(p);
        for (const ref of p.positional) {
          const r = await store.rmi(ref);
          for (const t of r.untagged) out(`untagged ${t}\n`);
          for (const d of r.removed) out(`removed ${d}\n`);
        }
        return 0;
      }
      case 'prune': {
        store = await openStore(p);
        const r = await store.prune();
        out(`removed ${r.layers} layers and ${r.blobs} blobs: ${formatBytes(r.bytes)}\n`);
        return 0;
      }
      case 'df': {
        store = await openStore(p);
        const d = store.df();
        out(table([
          ['WHAT', 'COUNT', 'SIZE'],
          ['images', String(d.images), formatBytes(d.blobs)],
          ['layers shared by images', '', formatBytes(d.shared)],
          ['layers used by one image or none', '', formatBytes(d.unique)],
          ['containers (writable layers)', String(store.containers().length), formatBytes(d.containers)],
        ]));
        return 0;
      }
      default:
        throw new UsageError(`unknown image command "${sub}"\n${IMAGE_USAGE}`);
    }
  } finally {
    store?.close();
  }
}
