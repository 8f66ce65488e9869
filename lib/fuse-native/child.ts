// The fuse-native mount server's process (forked by mount()): serves one mount, answers the
// owner's messages (the same protocol as the primary transport's worker), forwards events. It
// unmounts and exits when its owner goes away.
import type { FromWorker, ToWorker } from '../mount/worker';
import type { MountOptions } from '../mount/server';
import { startNativeServer, NativeServer } from './server';

type Start = { type: 'start'; options: MountOptions & { debugLog?: boolean } };

const post = (m: FromWorker) => {
  if (process.connected) process.send!(m);
};

let server: NativeServer | null = null;
let stopping: Promise<void> | null = null;

function stop(): Promise<void> {
  stopping ??= (async () => {
    if (server !== null) await server.unmount().catch((err) => post({ type: 'log', line: `unmount: ${(err as Error).message}` }));
    post({ type: 'unmounted' });
  })();
  return stopping;
}

process.on('message', async (m: Start | ToWorker) => {
  if (m.type === 'start') {
    const options = m.options;
    try {
      server = await startNativeServer({
        ...options,
        debug: options.debugLog ? (line) => post({ type: 'log', line }) : undefined,
        log: (line) => post({ type: 'log', line }),
      });
    } catch (err) {
      const e = err as { message: string; code?: string; option?: string; path?: string };
      post({ type: 'failed', error: { message: e.message, code: e.code, option: e.option, path: e.path } });
      process.disconnect();
      return;
    }
    server.overlay.events.on('copy-up', (event) => post({ type: 'copy-up', event }));
    post({ type: 'ready', passthrough: false, dev: server.dev });
  } else if (m.type === 'stats') {
    if (server !== null) post({ type: 'stats', id: m.id, stats: server.stats() });
  } else if (m.type === 'unmount') {
    await stop();
    process.disconnect();
    // libfuse's thread may still be winding down: nothing else to wait for
    setTimeout(() => process.exit(0), 50).unref();
  }
});

// The owner exited (or died): no mount is left behind it.
process.on('disconnect', () => {
  void stop().then(() => process.exit(0));
});
