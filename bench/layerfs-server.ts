/**
 * A layerfs mount in its own process, for the mount benchmarks (bench/impls.ts forks it): isolates
 * the server from the measuring process (whose sync fs calls on the mount would otherwise compete
 * with it) and lets its RSS be read from /proc/PID/status. Serves on the main thread, as the
 * `layerfs` mount program does (lib/cli/mount-command.ts).
 *
 *   node dist/bench/layerfs-server.js '{"lower":[...],"upper":...,"work":...,"mountpoint":...}'
 *
 * IPC: sends { type: 'ready', pid, passthrough }, { type: 'copy-up', event }, { type: 'stats', stats };
 * accepts { type: 'stats' } and { type: 'unmount' }. SIGTERM also unmounts and exits.
 */
import { startServer, MountOptions, Server } from '../lib/mount';

const send = (m: unknown) => process.send?.(m);

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2]) as MountOptions;
  let server: Server;
  try {
    server = await startServer({ ...opts, log: (line) => process.stderr.write(`layerfs-server: ${line}\n`) });
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message });
    process.exit(2);
  }
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= server
      .unmount()
      .catch((err) => process.stderr.write(`layerfs-server: unmount: ${(err as Error).message}\n`))
      .then(() => process.exit(0));
    return stopping;
  };
  server.overlay.events.on('copy-up', (event) => send({ type: 'copy-up', event }));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') send({ type: 'stats', stats: server.stats() });
    else if (m.type === 'unmount') void stop();
  });
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  send({ type: 'ready', pid: process.pid, passthrough: server.stats().passthrough });
}

void main();
