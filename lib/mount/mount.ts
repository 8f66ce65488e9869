import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { ConfigError, resolveConfig } from '../engine';
import * as sys from '../sys';
import { librarySpecs, optionProblem } from '../options';
import { checkMountpoint, MountOptions, opensMode, overlayOptionsOf, ServerStats } from './server';
import { checkSelfReference, deviceOfMountpoint, layersOf, realMountpoint } from './guard';
import type { FromWorker, ToWorker } from './worker';
import { checkNativeOptions } from '../fuse-native/server';
import { loadFuseNative } from '../fuse-native/load';

/** A live mount made by `mount()`. */
export interface MountHandle {
  readonly mountpoint: string;
  /** Kernel passthrough is on: reads and writes of open files go straight to the layer files. */
  readonly passthrough: boolean;
  /** 'copy-up' ({ path, bytes, method, metadataOnly, ms }) and 'log' (server warnings) events. */
  readonly events: EventEmitter;
  stats(): Promise<ServerStats>;
  /** Unmounts (lazily if busy) and stops the server; all data is on disk when it resolves. */
  unmount(): Promise<void>;
}

const live = new Set<string>();

/** The mounts of this process's workers: real mountpoint -> device (a layer on one would deadlock a cycle). */
const servedDevs = new Map<string, number>();

/** Devices of this process's mounts still in the mount table (a device number is reused after). */
function liveServedDevs(): number[] {
  return [...servedDevs].filter(([mp, dev]) => deviceOfMountpoint(mp) === dev).map(([, dev]) => dev);
}

/** Every option `mount()` knows (the engine's and the mount's, lib/options.ts): any other is a mistake. */
const MOUNT_OPTIONS = librarySpecs('engine', 'mount');
let hooks = false;

/** Detaches `mp` if it is mounted (not root: through fusermount3, which may unmount only our own). */
function detach(mp: string): void {
  try {
    if (process.getuid?.() === 0) sys.umount2(mp, sys.MNT.DETACH);
    else sys.fusermountUnmount(mp, true);
  } catch {
    /* gone already */
  }
}

/** Process exit and SIGINT/SIGTERM detach every mount still up, so none is left dead behind us. */
function installHooks(): void {
  if (hooks) return;
  hooks = true;
  process.on('exit', () => {
    for (const mp of live) detach(mp);
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) > 1) return; // the application handles it: exit hook still runs
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
}

/** Where a mount's server runs: a worker thread (transport fuse) or a child process (fuse-native). */
interface ServerHost {
  send(m: ToWorker | { type: 'start'; options: unknown }): void;
  on(event: 'message', fn: (m: FromWorker) => void): void;
  once(event: 'error', fn: (err: Error) => void): void;
  once(event: 'exit', fn: (code: number | null) => void): void;
  stop(): Promise<void>;
}

function workerHost(data: object): ServerHost {
  const worker = new Worker(path.join(__dirname, 'worker.js'), {
    workerData: data,
    // A small young generation keeps the server's resident size close to its live data.
    resourceLimits: { maxYoungGenerationSizeMb: 12 },
  });
  return {
    send: (m) => worker.postMessage(m),
    on: (e, fn) => worker.on(e, fn),
    once: (e: 'error' | 'exit', fn: (x: any) => void) => worker.once(e, fn), // eslint-disable-line @typescript-eslint/no-explicit-any
    stop: () => worker.terminate().then(() => undefined),
  };
}

/**
 * fuse-native serves from the main event loop of its process and may take its process down with
 * it (a crash in the binding): a child process of its own, with the worker's message protocol.
 */
function childHost(data: object, mountpoint: string): ServerHost {
  const child = fork(path.join(__dirname, '..', 'fuse-native', 'child.js'), [], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited = false;
  let exitCode: number | null = null;
  let mounted = false;
  child.on('message', (m: FromWorker) => {
    if (m.type === 'ready') mounted = true;
  });
  child.once('exit', (code) => {
    exited = true;
    exitCode = code;
    // A server that died after mounting (a crash in the binding) leaves a dead mount: detached now.
    if (code !== 0 && mounted) detach(mountpoint);
  });
  child.send({ type: 'start', options: data });
  return {
    send: (m) => {
      if (child.connected) child.send(m);
    },
    on: (e, fn) => child.on(e, fn),
    // (an exit already seen is reported at once: an unmount after a crash must not wait forever)
    once: (e: 'error' | 'exit', fn: (x: any) => void) => (e === 'exit' && exited ? setImmediate(fn, exitCode) : child.once(e, fn)), // eslint-disable-line @typescript-eslint/no-explicit-any
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        if (child.connected) child.disconnect();
      }),
  };
}

/** The transport option, checked once: 'fuse' (default) or 'fuse-native'. */
function transportOf(options: MountOptions): 'fuse' | 'fuse-native' {
  const t = options.transport ?? 'fuse';
  if (t !== 'fuse' && t !== 'fuse-native') {
    throw new ConfigError('EINVAL', 'transport', `transport must be 'fuse' or 'fuse-native', got ${JSON.stringify(t)}`);
  }
  return t;
}

/**
 * Mounts a layer stack with FUSE. The server runs in a worker thread, so this process may use the
 * mount with sync and async fs calls alike. Resolves once the mount answers requests.
 */
export async function mount(options: MountOptions): Promise<MountHandle> {
  if (options === null || typeof options !== 'object') throw new ConfigError('EINVAL', 'options', 'mount() needs an options object');
  // Validate here too, so a bad option fails with a precise error before any thread starts.
  for (const [key, value] of Object.entries(options)) {
    const spec = MOUNT_OPTIONS.get(key);
    if (spec === undefined || key.includes('.')) throw new ConfigError('EINVAL', key, `unknown option "${key}"`);
    // the mount's own options here; the engine's below (resolveConfig, which also checks the directories)
    const problem = spec.layer === 'mount' && value !== undefined ? optionProblem(key, spec.type, value) : null;
    if (problem !== null) throw new ConfigError('EINVAL', key, problem);
  }
  const transport = transportOf(options);
  if (transport === 'fuse-native') {
    checkNativeOptions(options);
    loadFuseNative(); // the one-line answer when it is not installed, before a process starts
  }
  opensMode(options); // passthrough with kernel opens: refused here, before any thread starts
  resolveConfig(overlayOptionsOf(options));
  const mountpoint = path.resolve(checkMountpoint(options.mountpoint));
  // A mount that would wait on itself (or on another of this process's mounts): refused here too.
  const served = liveServedDevs();
  checkSelfReference(layersOf(options), mountpoint, served);
  const { debug, log, ...data } = options;
  const serverData = { ...data, mountpoint, debugLog: debug !== undefined, servedDevs: served };
  const worker = transport === 'fuse' ? workerHost(serverData) : childHost(serverData, mountpoint);
  const events = new EventEmitter();
  const pending = new Map<number, (s: ServerStats) => void>();
  let nextId = 1;
  let unmounted: () => void = () => undefined;
  const realMp = realMountpoint(mountpoint);
  let myDev: number | null = null;
  const ready = new Promise<boolean>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          myDev = m.dev;
          if (m.dev !== null) servedDevs.set(realMp, m.dev);
          return resolve(m.passthrough);
        case 'failed': return reject(Object.assign(new Error(m.error.message), m.error));
        case 'stats': pending.get(m.id)?.(m.stats as ServerStats); pending.delete(m.id); return;
        case 'copy-up': events.emit('copy-up', m.event); return;
        case 'log': (debug && !m.line.startsWith('layerfs') ? debug : log ?? ((l: string) => events.emit('log', l)))(m.line); return;
        case 'unmounted': unmounted(); return;
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`mount server exited (${code}) before the mount was ready`)));
  });
  let passthrough: boolean;
  try {
    passthrough = await ready;
  } catch (err) {
    await worker.stop();
    throw err;
  }
  installHooks();
  live.add(mountpoint);
  const forget = () => {
    live.delete(mountpoint);
    if (myDev !== null && servedDevs.get(realMp) === myDev) servedDevs.delete(realMp);
  };
  let done: Promise<void> | null = null;
  return {
    mountpoint,
    passthrough,
    events,
    stats: () =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        worker.send({ type: 'stats', id } satisfies ToWorker);
      }),
    unmount: () => {
      done ??= new Promise<void>((resolve) => {
        unmounted = () => {
          forget();
          void worker.stop().then(() => resolve());
        };
        worker.once('exit', () => {
          forget();
          resolve();
        });
        worker.send({ type: 'unmount' } satisfies ToWorker);
      });
      return done;
    },
  };
}
