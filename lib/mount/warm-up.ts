/**
 * Warms a fresh server's code. V8 compiles the request path (decode, adapter, engine, encode) for
 * speed only after it ran a while: a fresh server's first container workload runs markedly
 * slower than the same on a server that served a few (docs/benchmarks.md, Design figures). So, once the first
 * mount is up, a short scripted workload runs through the same code on a throwaway engine: the
 * mount's lower layers (only read) under a scratch upper layer in the temp directory, a session
 * fed with built requests whose replies are dropped. The real mount's state is never touched.
 * It runs in slices, so requests of the real mount pass in between.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Overlay } from '../engine';
import { FuseSession } from '../fuse';
import { INIT, Op, SIZE, opName } from '../fuse/protocol';
import { body, request } from '../fuse/requests';
import * as sys from '../sys';
import { OverlayFuseOps } from './adapter';
import { NOTHING_NEGOTIATED } from './negotiated';
import type { Server } from './server';

export interface WarmUpOptions {
  lower: string[];
  /** Stop after this many requests (default 3000). */
  requests?: number;
  /** Give the event loop back after this many milliseconds of work (default 2). */
  sliceMs?: number;
  /**
   * A count that moves while the real mount serves requests (Server.requestsReceived): each slice
   * waits until it has stood still for `quietMs`, so the warm-up takes idle time only and never
   * slows the first workload down. A workload that keeps the mount busy warms the code itself.
   */
  activity?: () => number;
  /** Default 10. */
  quietMs?: number;
  /** The mount's kernel opens (MountOptions.opens): READ and WRITE by node, no OPEN. */
  kernelOpens?: boolean;
  /**
   * The mount hands open files to the kernel (passthrough): OPENs then answer backing ids, made-up
   * ones here (the session negotiates passthrough with a made-up INIT), so that this path of OPEN,
   * CREATE and RELEASE is warmed too.
   */
  passthrough?: boolean;
  /** Stops the warm-up where it is (its scratch removed), e.g. when its mount is unmounted. */
  signal?: AbortSignal;
}

/** What a mount's server tells its warm-up: who opens files, whether passthrough is on, its activity. */
export function warmUpOptionsOf(server: Server): Pick<WarmUpOptions, 'kernelOpens' | 'passthrough' | 'activity'> {
  const { opens, passthrough } = server.stats();
  return { kernelOpens: opens === 'kernel', passthrough, activity: () => server.requestsReceived() };
}

export interface WarmUpReport {
  requests: number;
  /** Error replies by operation and errno code (GETXATTR of a missing name answers ENODATA). */
  errors: Record<string, number>;
  /** Files handed to the (made-up) passthrough. */
  passthroughOpens: number;
  ms: number;
}

const DT_DIR = 4, DT_REG = 8, DT_LNK = 10;
/** Files the write side makes (each some 15 requests: enough calls for V8 to optimize that path). */
const WRITE_ROUNDS = 120;

interface Entry { nodeid: number; name: string; type: number; parent?: number }

/** Requests to a session that is not on a device: each call resolves with the reply. */
class Feeder {
  readonly session: FuseSession;
  /** Requests delivered and not answered yet, by unique. */
  private readonly waiting = new Map<number, { op: Op; answer: (reply: Buffer) => void }>();
  private unique = 2;
  count = 0;
  readonly errors: Record<string, number> = {};
  private sliceStart = Date.now();

  constructor(ops: OverlayFuseOps, private readonly sliceMs: number, readonly quiet: () => Promise<void>, private readonly signal?: AbortSignal,
    passthrough = false) {
    this.session = new FuseSession(-1, ops, {
      passthrough,
      log: () => undefined,
      writeReply: (out) => {
        const reply = Array.isArray(out) ? Buffer.concat(out) : out;
        const unique = Number(reply.readBigUInt64LE(8));
        const waiter = this.waiting.get(unique);
        this.waiting.delete(unique);
        if (failed(reply)) {
          const key = `${opName(waiter?.op ?? 0)} ${sys.errnoCode(-reply.readInt32LE(4))}`;
          this.errors[key] = (this.errors[key] ?? 0) + 1;
        }
        waiter?.answer(reply);
        return reply.length;
      },
    });
  }

  async call(op: Op, nodeid: number, b?: Buffer): Promise<Buffer> {
    if (Date.now() - this.sliceStart >= this.sliceMs) {
      await new Promise((res) => setImmediate(res));
      await this.quiet();
      this.sliceStart = Date.now();
    }
    this.signal?.throwIfAborted();
    const unique = this.unique++;
    const reply = new Promise<Buffer>((answer) => this.waiting.set(unique, { op, answer }));
    this.count++;
    this.session.deliver(request(op, unique, nodeid, b));
    return reply;
  }

  forget(nodeid: number, nlookup: number): void {
    this.count++;
    this.session.deliver(request(Op.FORGET, this.unique++, nodeid, body.forget(nlookup)));
  }
}

/** Resolves once `activity` has not moved for `ms` (at once without an activity count), or on abort. */
function quietFor(activity: (() => number) | undefined, ms: number, signal?: AbortSignal): () => Promise<void> {
  if (activity === undefined) return () => Promise.resolve();
  return async () => {
    while (signal?.aborted !== true) {
      const seen = activity();
      await new Promise((res) => setTimeout(res, ms));
      if (activity() === seen) return;
    }
  };
}

const failed = (reply: Buffer) => reply.readInt32LE(4) !== 0;
/** The node id of an entry reply (LOOKUP, MKDIR, CREATE, SYMLINK, LINK). */
const nodeidOf = (reply: Buffer) => Number(reply.readBigUInt64LE(SIZE.OUT_HEADER));
/** The file handle of an OPEN reply, or of a CREATE reply (after its entry). */
const fhOf = (reply: Buffer, at: number = SIZE.OUT_HEADER) => Number(reply.readBigUInt64LE(at));

function direntsPlus(reply: Buffer): Entry[] {
  const out: Entry[] = [];
  for (let off = SIZE.OUT_HEADER; off + SIZE.DIRENTPLUS <= reply.length;) {
    const nodeid = Number(reply.readBigUInt64LE(off));
    const d = off + SIZE.ENTRY_OUT;
    const namelen = reply.readUInt32LE(d + 16);
    const type = reply.readUInt32LE(d + 20);
    const name = reply.toString('utf8', d + SIZE.DIRENT, d + SIZE.DIRENT + namelen);
    if (name !== '.' && name !== '..') out.push({ nodeid, name, type });
    off = d + ((SIZE.DIRENT + namelen + 7) & ~7);
  }
  return out;
}

const SCRATCH_PREFIX = 'layerfs-warm-up-';

/** Scratch directories of warm-ups whose process is gone (killed with SIGKILL): `PREFIX<pid>-XXXXXX`. */
function removeStaleScratch(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = name.startsWith(SCRATCH_PREFIX) ? Number(name.slice(SCRATCH_PREFIX.length).split('-')[0]) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as { code?: string }).code === 'ESRCH') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Runs the scripted workload; never throws (a warm-up that cannot run is skipped). */
export async function warmUp(options: WarmUpOptions): Promise<WarmUpReport> {
  const started = Date.now();
  const budget = options.requests ?? 3000;
  let scratch: string | null = null;
  let ov: Overlay | null = null;
  let feeder: Feeder | null = null;
  let passthroughOpens = 0;
  // A server stopped (SIGTERM exits the process) in the middle of it must not leave the scratch behind.
  const removeScratch = () => {
    if (scratch !== null) fs.rmSync(scratch, { recursive: true, force: true });
  };
  process.once('exit', removeScratch);
  try {
    removeStaleScratch();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
    fs.mkdirSync(path.join(scratch, 'upper'));
    fs.mkdirSync(path.join(scratch, 'work'));
    // Unprivileged, markers go in user.overlay.* (trusted.* needs CAP_SYS_ADMIN), as for the mount.
    const userxattr = process.getuid?.() !== 0 ? true : undefined;
    ov = Overlay.open({ lower: options.lower, upper: path.join(scratch, 'upper'), work: path.join(scratch, 'work'), volatile: true, userxattr, metacopy: userxattr ? false : undefined,
      // small caches: it shares the process (and its descriptor limit) with the real mount
      cache: { nodes: 2048, dirIndexNames: 50_000, dirFds: 64 } });
    const ops = new OverlayFuseOps(ov);
    const kernelOpens = options.kernelOpens === true;
    const passthrough = options.passthrough === true && !kernelOpens;
    ops.negotiated({ ...NOTHING_NEGOTIATED, kernelOpens, passthrough: passthrough ? { open: () => ++passthroughOpens, close: () => undefined } : null });
    feeder = new Feeder(ops, options.sliceMs ?? 2, quietFor(options.activity, options.quietMs ?? 10, options.signal), options.signal, passthrough);
    if (passthrough) await feeder.call(Op.INIT, 0, body.init(INIT.PASSTHROUGH | INIT.INIT_EXT));
    await feeder.quiet(); // the first workload often starts right after the mount
    const smallFiles = await readSide(feeder, budget);
    await writeSide(feeder, smallFiles);
  } catch {
    /* best effort: the mount works the same without it */
  } finally {
    process.removeListener('exit', removeScratch);
    try {
      ov?.close();
      removeScratch();
    } catch {
      /* ignore */
    }
  }
  return { requests: feeder?.count ?? 0, errors: feeder?.errors ?? {}, passthroughOpens, ms: Date.now() - started };
}

/** A breadth-first walk as ls -lR, find and a loader do it; returns some small lower files. */
async function readSide(f: Feeder, budget: number): Promise<Entry[]> {
  const dirs: number[] = [1];
  const small: Entry[] = [];
  while (dirs.length > 0 && f.count < budget) {
    const dir = dirs.shift()!;
    const listing = await f.call(Op.READDIRPLUS, dir, body.read(0, 0, 64 * 1024));
    if (failed(listing)) continue;
    let opened = 0;
    for (const e of direntsPlus(listing)) {
      if (f.count >= budget) break;
      await f.call(Op.GETATTR, e.nodeid, body.getattr());
      await f.call(Op.GETXATTR, e.nodeid, body.getxattr('security.selinux', 0));
      const again = await f.call(Op.LOOKUP, dir, body.name(e.name));
      await f.call(Op.LOOKUP, dir, body.name(`${e.name}.warm-up-missing`));
      if (e.type === DT_DIR) dirs.push(e.nodeid);
      else if (e.type === DT_LNK) await f.call(Op.READLINK, e.nodeid);
      else if (e.type === DT_REG && opened < 4) {
        opened++;
        for (let i = 0; i < 3; i++) {
          const open = await f.call(Op.OPEN, e.nodeid, body.open(sys.O.RDONLY));
          // ENOSYS: kernel opens, reads name the node (file handle 0)
          const fh = failed(open) ? 0 : fhOf(open);
          await f.call(Op.READ, e.nodeid, body.read(fh, 0, 4096));
          if (fh !== 0) await f.call(Op.RELEASE, e.nodeid, body.release(fh));
        }
        if (small.length < 8) {
          small.push({ ...e, parent: dir }); // its references are kept: the write side copies it up
          continue;
        }
      }
      if (!failed(again)) f.forget(e.nodeid, 1);
      if (e.type !== DT_DIR) f.forget(e.nodeid, 1);
    }
  }
  return small;
}

/**
 * What a package manager does (dpkg -i, as the kernel forwards it): per file a create of NAME.new
 * (the kernel asks security.capability at its write and at its chown), chown, chmod, utimes, a
 * rename over the old file; hard links, symlinks, unlinks, directories made and removed; then its database's way with lower files: copy-ups for writing, chmod (metadata only), a rename
 * and an unlink of lower files (whiteouts), all in the scratch upper layer.
 */
async function writeSide(f: Feeder, lowerFiles: Entry[]): Promise<void> {
  const dir = await f.call(Op.MKDIR, 1, body.mkdir('layerfs-warm-up', 0o755));
  if (failed(dir)) return;
  const d = nodeidOf(dir);
  const capability = body.getxattr('security.capability', 0);
  for (let i = 0; i < WRITE_ROUNDS; i++) {
    const created = await f.call(Op.CREATE, d, body.create(`f${i}.new`, sys.O.WRONLY | sys.O.CREAT | sys.O.EXCL, 0o100644));
    if (failed(created)) continue;
    const node = nodeidOf(created);
    const fh = fhOf(created, SIZE.OUT_HEADER + SIZE.ENTRY_OUT);
    await f.call(Op.GETXATTR, node, capability);
    await f.call(Op.WRITE, node, body.write(fh, 0, Buffer.alloc(512, 0x61)));
    await f.call(Op.GETXATTR, node, capability);
    await f.call(Op.SETATTR, node, body.setattr({ uid: 0, gid: 0 }));
    await f.call(Op.SETATTR, node, body.setattr({ mode: 0o100600 }));
    await f.call(Op.SETATTR, node, body.setattr({ atimeSec: 1, mtimeSec: 1 }));
    await f.call(Op.RELEASE, node, body.release(fh, sys.O.WRONLY));
    await f.call(Op.GETATTR, node, body.getattr());
    // The second round's files replace the first's: a rename over an existing name.
    await f.call(Op.RENAME2, d, body.rename2(d, `f${i}.new`, `g${i % (WRITE_ROUNDS / 2)}`));
    const link = await f.call(Op.LINK, d, body.link(node, `h${i}`));
    if (!failed(link)) await f.call(Op.UNLINK, d, body.name(`h${i}`));
    const sym = await f.call(Op.SYMLINK, d, body.symlink(`s${i}`, `g${i}`));
    if (!failed(sym)) await f.call(Op.READLINK, nodeidOf(sym));
    await f.call(Op.UNLINK, d, body.name(`s${i}`));
    await f.call(Op.LOOKUP, d, body.name(`f${i}.dpkg-tmp`));
    if (i % 4 === 0) {
      const sub = await f.call(Op.MKDIR, d, body.mkdir(`d${i}`, 0o755));
      if (!failed(sub)) await f.call(Op.RMDIR, d, body.name(`d${i}`));
    }
  }
  for (let i = 0; i < WRITE_ROUNDS / 2; i++) await f.call(Op.UNLINK, d, body.name(`g${i}`));
  // Lower files: copy-ups of data (open for writing, truncating) and of metadata only (chmod),
  // a rename and an unlink (a whiteout each).
  for (const [i, e] of lowerFiles.entries()) {
    const st = await f.call(Op.GETATTR, e.nodeid, body.getattr());
    if (failed(st) || st.readBigUInt64LE(SIZE.OUT_HEADER + 16 + 8) > 64n * 1024n) continue; // attr.size
    switch (i % 4) {
      case 0: {
        const open = await f.call(Op.OPEN, e.nodeid, body.open(sys.O.WRONLY | sys.O.TRUNC));
        if (!failed(open)) await f.call(Op.RELEASE, e.nodeid, body.release(fhOf(open), sys.O.WRONLY));
        else await f.call(Op.WRITE, e.nodeid, body.write(0, 0, Buffer.alloc(1, 0x61))); // kernel opens: copied up at the first write
        break;
      }
      case 1:
        await f.call(Op.SETATTR, e.nodeid, body.setattr({ mode: 0o100600 }));
        break;
      case 2:
        if (e.parent !== undefined) await f.call(Op.RENAME2, e.parent, body.rename2(e.parent, e.name, `${e.name}.warm-up-old`));
        break;
      default:
        if (e.parent !== undefined) await f.call(Op.UNLINK, e.parent, body.name(e.name));
    }
  }
  await f.call(Op.RMDIR, 1, body.name('layerfs-warm-up'));
}
