/** lib/engine/file.ts: opening the real file that holds a merged file's data. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as sys from '../../lib/sys';
import { Overlay } from '../../lib/engine';
import { makeLayerSet, tempDir } from '../helpers/layers';

test('O_NOATIME on a file the opener does not own is dropped, as overlayfs does, not an EPERM', () => {
  const base = tempDir('layerfs-file-');
  fs.chmodSync(base, 0o755);
  const set = makeLayerSet([{ 'etc/passwd': { type: 'file', content: 'root\n', mode: 0o644 } }], undefined, base);
  try {
    for (const d of [set.base, ...set.lower]) fs.chmodSync(d, 0o755);
    // as root: the flag is kept (the owner or CAP_FOWNER may use it)
    const ov = Overlay.open({ lower: set.lower });
    try {
      const h = ov.openRead('etc/passwd', sys.O.RDONLY | sys.O.NOATIME);
      const flags = parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${h.fd}`, 'utf8'))![1], 8);
      assert.ok(flags & sys.O.NOATIME, 'root keeps O_NOATIME');
      h.close();
    } finally {
      ov.close();
    }
    // as nobody, over root's file: the open succeeds without the flag
    const engine = path.join(__dirname, '..', '..', 'lib', 'engine', 'index.js');
    const script = `const { Overlay } = require(${JSON.stringify(engine)}); const sys = require(${JSON.stringify(path.join(__dirname, '..', '..', 'lib', 'sys', 'index.js'))});
const ov = Overlay.open({ lower: ${JSON.stringify(set.lower)} });
const h = ov.openRead('etc/passwd', sys.O.RDONLY | sys.O.NOATIME);
const b = Buffer.alloc(16); process.stdout.write(b.subarray(0, h.readSync(b, 0, 16, 0)));`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
    assert.is(out, 'root\n');
  } finally {
    set.remove();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test.run();
