/**
 * Layer compression: detection (media type, magic bytes) and streams both ways. Decompression runs
 * in a child `zstd -d` / `pigz -d` when the binary is there (off the main thread, and the fastest
 * decoders measured here; docs/formats.md), else in process (Node's zlib for gzip; zstd has no
 * in-process fallback in Node 20). Compression: gzip through Node's zlib (deterministic for a given
 * zlib), zstd through `zstd -3` single-threaded (deterministic for a given zstd version).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as zlib from 'node:zlib';
import { MediaType } from '../types';
import { LayerError } from './errors';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression a layer media type names, or null when the media type is not a layer type. */
export function compressionOfMediaType(mediaType: string): Compression | null {
  switch (mediaType) {
    case MediaType.OciLayer: case MediaType.DockerLayer: return 'none';
    case MediaType.OciLayerGzip: case MediaType.OciLayerNondistributableGzip: case MediaType.DockerLayerGzip: return 'gzip';
    case MediaType.OciLayerZstd: return 'zstd';
  }
  if (/\+gzip$|\.tar\.gzip$/.test(mediaType)) return 'gzip';
  if (/\+zstd$/.test(mediaType)) return 'zstd';
  if (/\.tar$/.test(mediaType)) return 'none';
  return null;
}

/** The OCI media type of a layer with this compression. */
export function layerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.OciLayerGzip : c === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

/** By magic bytes: gzip 1f 8b, zstd 28 b5 2f fd; null when neither (a plain tar, or too short to tell). */
export function compressionOfMagic(head: Buffer): Compression | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return null;
}

const found = new Map<string, string | null>();
/** The path of a program on PATH, or null (looked up once per process). */
export function findProgram(name: string): string | null {
  if (!found.has(name)) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    found.set(name, r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null);
  }
  return found.get(name)!;
}

/** Lets tests force the in-process path. */
export interface CodecOptions {
  /** 'auto' (a child process when the program exists) or 'inprocess' */
  engine?: 'auto' | 'inprocess';
}

type Chunks = AsyncIterable<Buffer>;

/** Splits off the first `n` bytes (or fewer at the end) and gives back a stream of everything. */
export async function peek(input: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: Chunks }> {
  const it = input[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    got.push(b);
    len += b.length;
  }
  const head = Buffer.concat(got).subarray(0, n);
  const all = (async function* () {
    yield* got;
    if (!done) {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
  })();
  return { head, all };
}

/** Runs `cmd args` with `input` on its stdin and yields its stdout; fails with its stderr. */
async function* viaChild(cmd: string, args: string[], input: Chunks, what: string): AsyncGenerator<Buffer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  child.stdin.on('error', () => { /* EPIPE when the child fails early: its exit status says why */ });
  let feedError: unknown = null;
  let closed = false;
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (closed) return;
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => { child.stdin.off('drain', done); child.stdin.off('close', done); resolve(); };
            child.stdin.once('drain', done);
            child.stdin.once('close', done);
          });
        }
      }
      child.stdin.end();
    } catch (err) {
      feedError = err;
      child.kill('SIGKILL');
    }
  })();
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) {
      closed = true;
      child.kill('SIGKILL');
    }
  }
  await feeding;
  if (feedError) throw feedError;
  const { code, error } = await exited;
  if (error) throw new LayerError('ECOMPRESSION', `${what}: cannot run ${cmd}: ${error.message}`);
  if (code !== 0) {
    const line = stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit status ${code}`;
    throw new LayerError('ECOMPRESSION', `${what}: ${line}`);
  }
}

/** Runs a zlib transform over `input` (zlib works on the libuv thread pool). */
async function* viaZlib(t: zlib.Gunzip | zlib.Gzip, input: Chunks, what: string): AsyncGenerator<Buffer> {
  let feedError: unknown = null;
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (!t.write(chunk)) await new Promise<void>((resolve) => {
          const done = (): void => { t.off('drain', done); t.off('close', done); resolve(); };
          t.once('drain', done);
          t.once('close', done);
        });
      }
      t.end();
    } catch (err) {
      feedError = err;
      t.destroy();
    }
  })();
  try {
    for await (const chunk of t) yield chunk as Buffer;
  } catch (err) {
    if (feedError) throw feedError;
    throw new LayerError('ECOMPRESSION', `${what}: ${(err as Error).message}`);
  } finally {
    t.destroy();
  }
  await feeding;
  if (feedError) throw feedError;
}

/** The decompressed bytes of `input`. */
export function decompress(input: Chunks, c: Compression, opts: CodecOptions = {}): AsyncIterable<Buffer> {
  if (c === 'none') return input;
  const child = opts.engine !== 'inprocess';
  if (c === 'zstd') {
    const zstd = findProgram('zstd');
    if (zstd === null) throw new LayerError('ECOMPRESSION', 'zstd layer: the zstd program is not installed (apt-get install zstd)');
    return viaChild(zstd, ['-d', '-c', '-q'], input, 'zstd layer');
  }
  const pigz = child ? findProgram('pigz') : null;
  if (pigz !== null) return viaChild(pigz, ['-d', '-c'], input, 'gzip layer');
  // Trailing garbage after the gzip member is an error, as pigz and containers/image make it.
  return viaZlib(zlib.createGunzip({ chunkSize: 256 * 1024 }), input, 'gzip layer');
}

/** The compressed bytes of `input` (deterministic: see the module comment). */
export function compress(input: Chunks, c: Compression): AsyncIterable<Buffer> {
  if (c === 'none') return input;
  if (c === 'zstd') {
    const zstd = findProgram('zstd');
    if (zstd === null) throw new LayerError('ECOMPRESSION', 'zstd compression: the zstd program is not installed (apt-get install zstd)');
    return viaChild(zstd, ['-3', '-T1', '-c', '-q', '--no-progress'], input, 'zstd compression');
  }
  return viaZlib(zlib.createGzip({ level: 6, chunkSize: 256 * 1024 }), input, 'gzip compression');
}
