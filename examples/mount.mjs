import { mount } from 'layerfs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Two layers, the upper's work dir and a mountpoint, in a temp dir.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerfs-example-'));
const [lower, upper, work, rootfs] = ['lower', 'upper', 'work', 'rootfs'].map((d) => path.join(dir, d));
for (const d of [lower, upper, work, rootfs]) fs.mkdirSync(d);
fs.writeFileSync(path.join(lower, 'hello.txt'), 'from the lower layer\n');

const m = await mount({
  lower: [lower],                  // top first
  upper, work,                     // optional: read-only without them
  mountpoint: rootfs,
});
try {
  // any fs call, from this process or any other
  fs.appendFileSync(path.join(rootfs, 'hello.txt'), 'written through the mount\n');
  console.log(fs.readFileSync(path.join(rootfs, 'hello.txt'), 'utf8').trim().split('\n').join(' | '));
} finally {
  await m.unmount();               // a live mount keeps the process running until then
}
console.log('lower:', fs.readFileSync(path.join(lower, 'hello.txt'), 'utf8').trim());
console.log('upper:', fs.readFileSync(path.join(upper, 'hello.txt'), 'utf8').trim().split('\n').join(' | '));
fs.rmSync(dir, { recursive: true });
