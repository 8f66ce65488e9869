import * as path from 'node:path';
import { Overlay } from '../engine';
import { S } from '../sys';
import { splitLowerdir, splitOptions } from './options';

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


/** `layerfs tree -o lowerdir=...[,upperdir=..,workdir=..] [PATH]` */
export function treeCommand(rest: string[]): number {
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
