/**
 * The quick start's main job, as an image flow: a built-in sample image (three layers with
 * whiteouts and an opaque directory) written as an OCI layout, imported into a store, a container
 * created and mounted through layerfs, changed, diffed and committed; the commit exported and, where
 * umoci is installed, unpacked by umoci and compared with the container's merged view.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '../image/digest';
import { writeLayerDiff } from '../image/layer';
import { Store } from '../image/store/store';
import { hostPlatform } from '../image/platform';
import { MediaType } from '../image/types';
import * as sys from '../sys';
import { convertOciMarkers, writeSampleLayers } from './sample-layers';

/** `PATH MODE CONTENT|TARGET` lines of a mounted or unpacked tree, sorted, for comparison. */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    const what = st.isFile() ? fs.readFileSync(p).toString('base64') : st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : '';
    out.push(`/${rel} ${st.mode.toString(8)} ${what}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) visit(rel ? `${rel}/${n}` : n);
  };
  visit('');
  return out;
}

function printTree(root: string, print: (l: string) => void): number {
  let n = 0;
  const visit = (rel: string, depth: number) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      n++;
      const tail = st.isSymbolicLink() ? ` -> ${fs.readlinkSync(path.join(root, r))}` : st.isDirectory() ? '/' : '';
      print(`${'  '.repeat(depth)}${name}${tail}`);
      if (st.isDirectory()) visit(r, depth + 1);
    }
  };
  visit('', 1);
  return n;
}


/** The sample image as an OCI layout at `layout` (tag `sample`), its layers written by writeLayerDiff. */
export async function writeSampleImage(work: string, layout: string): Promise<void> {
  const layers = writeSampleLayers(path.join(work, 'layers'));
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    fs.writeFileSync(path.join(blobs, sha256(b).slice(7)), b);
    return { digest: sha256(b), size: b.length };
  };
  const descs = [];
  const diffIDs = [];
  for (const dir of [...layers.lower].reverse()) {
    convertOciMarkers(dir); // each layer directory then reads as an upper
    const tmp = path.join(work, 'layer.tmp');
    const out = fs.createWriteStream(tmp);
    const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
    const r = await writeLayerDiff({ lower: [], upper: dir, out, compression: 'gzip' });
    await closed;
    fs.renameSync(tmp, path.join(blobs, r.digest.slice(7)));
    descs.push({ mediaType: MediaType.OciLayerGzip, digest: r.digest, size: r.size });
    diffIDs.push(r.diffID);
  }
  const p = hostPlatform();
  const created = '2024-01-01T00:00:00Z';
  const config = put(Buffer.from(JSON.stringify({
    created, architecture: p.architecture, os: p.os,
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/app/server.js'], WorkingDir: '/app' },
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: ['base', 'packages', 'app'].map((n) => ({ created, created_by: `sample ${n} layer` })),
  })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, ...config }, layers: descs })));
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'sample' } }],
  }));
}

function has(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function runImageDemo(dir: string): Promise<number> {
  const print = (l: string) => process.stdout.write(l + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const layout = path.join(dir, 'sample-image');
  await writeSampleImage(dir, layout);
  print(`1. a sample OCI image (3 layers: base, packages, app with whiteouts and an opaque dir) in ${layout}`);

  const store = await Store.open({ root: path.join(dir, 'store') });
  try {
    const img = await store.import(`oci:${layout}:sample`, 'sample:1');
    print(`2. imported into the store ${store.root} as sample:1 (${img.digest.slice(0, 19)}...), each layer extracted once:`);
    for (const l of img.layers) print(`     ${l.blob.digest.slice(0, 19)}... -> layers/${l.diffID.slice(7, 19)}.../diff (${l.size} bytes of tar)`);

    const c = await store.createContainer('sample:1', { name: 'demo' });
    const m = await c.mount(path.join(dir, 'rootfs'));
    let committedView: string[];
    try {
      print(`3. container "demo" mounted through layerfs at ${m.mountpoint} (the image's layers as lowers):`);
      const n = printTree(m.mountpoint, (l) => print(`   ${l}`));
      print(`   ${n} objects: /etc/motd and /usr/share/doc are whited out, /var/cache is opaque.`);

      const at = (r: string) => path.join(m.mountpoint, r);
      fs.writeFileSync(at('app/config.json'), '{"port": 8080}\n');
      fs.appendFileSync(at('etc/os-release'), 'VARIANT="demo"\n');
      fs.chmodSync(at('usr/bin/hello'), 0o700);
      fs.unlinkSync(at('etc/hostname'));
      fs.rmSync(at('var/cache'), { recursive: true });
      print('4. changed: /app/config.json added, /etc/os-release appended, /usr/bin/hello chmod 700, /etc/hostname and /var/cache removed; container diff:');
      for (const ch of c.diff()) print(`     ${ch.kind} ${ch.path}`);

      const next = await c.commit('sample:2');
      committedView = listTree(m.mountpoint);
      print(`5. committed as sample:2 (${next.digest.slice(0, 19)}...): ${next.layers.length} layers, the first ${img.layers.length} shared with sample:1:`);
      const users = store.layerUsers();
      for (const l of next.layers) print(`     layers/${l.diffID.slice(7, 19)}... used by ${users.get(l.diffID)} image(s)`);
    } finally {
      await m.unmount();
    }
    await store.removeContainer('demo');

    const out = path.join(dir, 'exported');
    await store.export('sample:2', `oci:${out}:2`);
    print(`6. exported to oci:${out}:2`);
    if (!has('umoci')) {
      print('   (umoci is not installed: skipping the check of the export)');
      return 0;
    }
    const bundle = path.join(dir, 'umoci-bundle');
    execFileSync('umoci', ['unpack', '--image', `${out}:2`, bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
    const theirs = listTree(path.join(bundle, 'rootfs')).slice(1); // the root is umoci's own
    const ours = committedView.slice(1);
    const differ = ours.filter((l, i) => theirs[i] !== l).length + Math.abs(ours.length - theirs.length);
    if (differ === 0) {
      print(`7. umoci unpack of the export shows the container's ${ours.length} objects exactly (modes, contents, link targets).`);
      return 0;
    }
    print(`MISMATCH between umoci's unpack of the commit and the container in ${differ} lines:`);
    for (const l of theirs.filter((x) => !ours.includes(x))) print(`  umoci:   ${l}`);
    for (const l of ours.filter((x) => !theirs.includes(x))) print(`  layerfs: ${l}`);
    return 1;
  } finally {
    store.close();
  }
}

