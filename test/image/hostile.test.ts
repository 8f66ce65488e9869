/**
 * Hostile layers through the whole import (CLI): each refused with one line, no image, no layer,
 * no blob of it and no work area left in the store, nothing written outside; and two concurrent
 * commits on one store (once writeLayerDiff is there).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { buildTar, type TarWriteEntry } from '../../lib/image/layer/tar-writer';
import { Store } from '../../lib/image';
import { cli, tmp, writeOciLayout } from './helpers';

const dir = tmp('hostile');
const root = path.join(dir, 'store');
const T = { sec: 1_600_000_000, nsec: 0 };
type E = { entry: TarWriteEntry; body?: Buffer };
const file = (name: string, body = 'x'): E => ({ entry: { name, type: 'file', mode: 0o644, mtime: T }, body: Buffer.from(body) });
const sym = (name: string, linkname: string): E => ({ entry: { name, type: 'symlink', mode: 0o777, linkname, mtime: T } });
const hard = (name: string, linkname: string): E => ({ entry: { name, type: 'link', mode: 0o644, linkname, mtime: T } });

const victim = path.join(dir, 'victim');
const cases: [string, E[] | Buffer, RegExp][] = [
  ['dot-dot', [file('ok'), file('a/../../../victim-dotdot')], /\.\./],
  ['through a symlink', [sym('esc', victim), file('esc/owned')], /symlink|link|beneath|outside/i],
  ['hard link out', [hard('h', '../../../../../etc/passwd')], /\.\.|outside|link/i],
  ['truncated', Buffer.alloc(0), /./],
];

test('hostile layers: refused with one line, nothing kept, nothing written outside', async () => {
  fs.mkdirSync(victim);
  for (const [label, entries, re] of cases) {
    let tar: Buffer;
    if (Buffer.isBuffer(entries)) {
      const good = await buildTar([file('x', 'y'.repeat(5000))]);
      tar = good.subarray(0, 1000); // cut inside the file's data
    } else tar = await buildTar(entries);
    const f = path.join(dir, `${label.replace(/\W/g, '_')}.tgz`);
    fs.writeFileSync(f, zlib.gzipSync(tar));
    const layout = path.join(dir, `layout-${label.replace(/\W/g, '_')}`);
    writeOciLayout(layout, 't', [{ file: f, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
    const r = cli(['image', 'import', '-q', `oci:${layout}:t`, 'evil'], { LAYERFS_ROOT: root });
    assert.is(r.code, 1, `${label}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^layerfs: [^\n]+\n$/, label);
    assert.match(r.stderr, re, label);
    const store = await Store.open({ root });
    assert.is(store.images().length, 0, label);
    assert.equal(fs.readdirSync(store.layout.layersDir), [], label);
    assert.equal(fs.readdirSync(store.layout.diffidsDir), [], label);
    // the config blob may stay until prune; the layer blob never
    const m = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0];
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', m.digest.slice(7)), 'utf8'));
    assert.not.ok(store.hasBlob(manifest.layers[0].digest), label);
    assert.equal(fs.readdirSync(store.layout.tmpDir), [], label);
    store.close();
  }
  assert.equal(fs.readdirSync(victim), []);
  assert.not.ok(fs.existsSync(path.join(dir, '..', 'victim-dotdot')));
});

test.run();
