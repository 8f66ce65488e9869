// A fuse-native mount whose engine misbehaves on purpose (run as a child by adapter.test.ts):
// getattr of /boom throws a TypeError (a bug, not an errno), mkdir of /slow takes SLOW_MS.
// Prints "ready" once the mount answers; unmounts when its parent disconnects.
import { startNativeServer } from '../../lib/fuse-native/server';

const [lower, upper, work, mountpoint, slowMs] = process.argv.slice(2);

(async () => {
  const server = await startNativeServer({ lower: [lower], upper, work, mountpoint, log: (l) => process.stderr.write(l + '\n') });
  const ov = server.overlay as unknown as Record<string, (...a: unknown[]) => unknown>;
  const getattr = ov.getattr.bind(ov), mkdir = ov.mkdir.bind(ov);
  ov.getattr = (t: unknown) => {
    if (t === 'boom') throw new TypeError('a bug in the engine');
    return getattr(t);
  };
  ov.mkdir = async (t: unknown, ...rest: unknown[]) => {
    if (t === 'slow') await new Promise((r) => setTimeout(r, Number(slowMs)));
    return mkdir(t, ...rest);
  };
  process.send!('ready');
  process.on('disconnect', () => void server.unmount().then(() => process.exit(0)));
})().catch((err) => {
  process.stderr.write(`faulty-server: ${(err as Error).message}\n`);
  process.exit(1);
});
