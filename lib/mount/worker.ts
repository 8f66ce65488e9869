// The mount server's thread: serves one mount, answers the owner's messages, forwards events.
import { parentPort, workerData } from 'node:worker_threads';
import { startServer, MountOptions } from './server';

export type ToWorker = { type: 'unmount' } | { type: 'stats'; id: number };
export type FromWorker =
  | { type: 'ready'; passthrough: boolean; dev: number | null }
  | { type: 'failed'; error: { message: string; code?: string; option?: string; path?: string } }
  | { type: 'stats'; id: number; stats: unknown }
  | { type: 'copy-up'; event: unknown }
  | { type: 'log'; line: string }
  | { type: 'unmounted' };

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const { servedDevs, ...options } = workerData as MountOptions & { debugLog?: boolean; servedDevs: number[] };

(async () => {
  let server;
  try {
    server = await startServer({
      ...options,
      debug: options.debugLog ? (line) => post({ type: 'log', line }) : undefined,
      log: (line) => post({ type: 'log', line }),
    }, servedDevs);
  } catch (err) {
    const e = err as { message: string; code?: string; option?: string; path?: string };
    post({ type: 'failed', error: { message: e.message, code: e.code, option: e.option, path: e.path } });
    return;
  }
  server.overlay.events.on('copy-up', (event) => post({ type: 'copy-up', event }));
  // The warm-up ends with the mount, its scratch removed (the worker may be gone right after).
  const stopWarmUp = new AbortController();
  let warming: Promise<unknown> = Promise.resolve();
  port.on('message', async (m: ToWorker) => {
    if (m.type === 'stats') post({ type: 'stats', id: m.id, stats: server.stats() });
    else if (m.type === 'unmount') {
      stopWarmUp.abort();
      await warming;
      await server.unmount().catch((err) => post({ type: 'log', line: `unmount: ${(err as Error).message}` }));
      post({ type: 'unmounted' });
      port.close();
    }
  });
  post({ type: 'ready', passthrough: server.stats().passthrough, dev: server.dev });
  // After 'ready': its set-up (scratch directory, throwaway engine) is synchronous.
  // warm-up.ts is an optional part, loaded only when asked for (its own entry point)
  if (options.warmUp === true) {
    warming = import('./warm-up').then(({ warmUp, warmUpOptionsOf }) =>
      warmUp({ lower: options.lower, ...warmUpOptionsOf(server), signal: stopWarmUp.signal }));
  }
})();
