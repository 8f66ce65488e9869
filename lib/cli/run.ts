import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, Overlay, OverlayError } from '../engine';
import { S } from '../sys';
import { writeSampleLayers } from './sample-layers';
import { runDemo } from './demo';

const USAGE = `usage: layerfs <command> [options]

commands:
  tree -o lowerdir=TOP:...:BOTTOM[,upperdir=U,workdir=W] [PATH]
                 print the merged tree (or the subtree at PATH) with the layer each object comes from
  demo [DIR]     build sample layers in DIR (default: a temp dir), print their merged view, and,
                 as root, check it against the kernel's overlayfs
  --help         this text
  --version      the layerfs version
`;

/** Parses `-o a=b,c` mount-style options (a backslash escapes a colon inside lowerdir). */
export function parseMountOptions(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? '' : part.slice(eq + 1));
  }
  return out;
}

export function splitLowerdir(value: string): string[] {
  const dirs: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && i + 1 < value.length) cur += value[++i];
    else if (value[i] === ':') {
      if (cur !== '') dirs.push(cur);
      cur = '';
    } else cur += value[i];
  }
  if (cur !== '') dirs.push(cur);
  return dirs;
}

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
        const o = parseMountOptions(opts);
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
      default:
        process.stderr.write(`layerfs: unknown command "${cmd}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof OverlayError) {
      process.stderr.write(`layerfs: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
