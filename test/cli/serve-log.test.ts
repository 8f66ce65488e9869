import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { syslogWriter } from '../../lib/cli/serve';

test('a background server logs through one logger(1) process, not one per line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-log-'));
  const savedPath = process.env.PATH;
  try {
    // A stand-in logger(1): records each start and every line it reads.
    fs.writeFileSync(path.join(dir, 'logger'), `#!/bin/sh\necho start "$@" >> ${dir}/out\ncat >> ${dir}/out\n`, { mode: 0o755 });
    process.env.PATH = `${dir}:${savedPath}`;
    const log = syslogWriter();
    log('first');
    log('second\nline');
    log('third');
    const out = path.join(dir, 'out');
    const deadline = Date.now() + 10_000;
    while (!(fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('third'))) {
      assert.ok(Date.now() < deadline, 'logger never got the lines');
      await new Promise((r) => setTimeout(r, 20));
    }
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines, [`start -t layerfs[${process.pid}]`, 'first', 'second line', 'third']);
  } finally {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
