// Child process for the crash test: copies up files in a loop until killed.
import { Overlay } from '../../lib/engine';
import * as sys from '../../lib/sys';

const [lower, upper, work, count] = process.argv.slice(2);

(async () => {
  const ov = Overlay.open({ lower: [lower], upper, work });
  process.send?.('ready');
  for (let i = 0; i < Number(count); i++) {
    const h = await ov.open(`/f${i}`, sys.O.RDWR);
    h.writeSync(Buffer.from('W'), 0, 1, 0);
    h.close();
    if (i % 3 === 0) await ov.chmod(`/m${i}`, 0o600);
    if (i % 5 === 0 && ov.tryResolve(`/d${i}`) !== null) await ov.rename(`/d${i}`, `/moved${i}`);
  }
  process.send?.('done');
})();
