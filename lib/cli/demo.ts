import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Overlay } from '../engine';
import * as sys from '../sys';
import { convertOciMarkers, type SampleLayers } from './sample-layers';
import { printTree } from './tree';

/** Lines of `find`-like output for a real mounted tree, to compare with the engine's view. */
function listMount(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    out.push(`${rel || '/'} ${st.mode.toString(8)} ${st.isFile() ? fs.readFileSync(p).toString('base64') : st.isSymbolicLink() ? fs.readlinkSync(p) : ''}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) visit(rel ? `${rel}/${n}` : n);
  };
  visit('');
  return out;
}

function listEngine(ov: Overlay): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    const node = ov.resolve(rel);
    const a = ov.getattr(node);
    out.push(`${rel || '/'} ${a.mode.toString(8)} ${node.type === 0o100000 ? ov.readFile(node).toString('base64') : node.type === 0o120000 ? ov.readlink(node) : ''}`);
    if (node.isDir) for (const e of ov.readdir(node).map((x) => x.name).sort()) visit(rel ? `${rel}/${e}` : e);
  };
  visit('');
  return out;
}

/**
 * The quick start's main job: sample layers, their merged view, and (as root, where the kernel has
 * overlayfs) the same layers mounted by the kernel, compared object by object.
 */
export async function runDemo(dir: string, make: (dir: string) => SampleLayers): Promise<number> {
  const layers = make(dir);
  const print = (l: string) => process.stdout.write(l + '\n');
  print(`sample layers in ${layers.base} (top first): ${layers.lower.map((l) => path.basename(l)).join(', ')}\n`);
  const ov = Overlay.open({ lower: layers.lower });
  let engineView: string[];
  try {
    const n = printTree(ov, '/', print);
    print(`\n${n} objects in the merged view; /etc/motd and /usr/share/doc are whited out, /var/cache is opaque.`);
    engineView = listEngine(ov);
  } finally {
    ov.close();
  }
  if (process.getuid?.() !== 0) {
    print('(not root: skipping the comparison with kernel overlayfs)');
    return 0;
  }
  // The kernel does not read OCI .wh. files: give it a copy with those turned into its own markers.
  const kernelBase = path.join(layers.base, 'kernel-form');
  fs.rmSync(kernelBase, { recursive: true, force: true });
  fs.mkdirSync(kernelBase);
  const kernelLower = layers.lower.map((l) => {
    const copy = path.join(kernelBase, path.basename(l));
    execFileSync('cp', ['-a', l, copy]);
    convertOciMarkers(copy);
    return copy;
  });
  const mnt = path.join(layers.base, 'kernel-mnt');
  fs.mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${kernelLower.join(':')}`, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    print(`(kernel overlayfs not available here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`);
    return 0;
  }
  let kernelView: string[];
  try {
    kernelView = listMount(mnt);
  } finally {
    execFileSync('umount', [mnt]);
  }
  const differ = engineView.filter((l, i) => kernelView[i] !== l).length + Math.abs(engineView.length - kernelView.length);
  if (differ === 0) {
    print(`kernel overlayfs shows the same ${kernelView.length} objects, modes, contents and link targets.`);
    return 0;
  }
  print(`MISMATCH with kernel overlayfs in ${differ} lines:`);
  for (const l of kernelView.filter((x) => !engineView.includes(x))) print(`  kernel: ${l}`);
  for (const l of engineView.filter((x) => !kernelView.includes(x))) print(`  layerfs: ${l}`);
  return 1;
}

