/** Layer compression by magic bytes: gzip (zlib), zstd (the zstd program: Node 20 has no zstd), none. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import * as zlib from 'node:zlib';

export type Compression = 'gzip' | 'zstd' | 'none';

export function sniffCompression(first: Buffer): Compression {
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) return 'gzip';
  if (first.length >= 4 && first.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Reads the first `n` bytes of a stream and puts them back. */
export async function peek(input: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const c = input.read() as Buffer | null;
    if (c === null) {
      if (input.readableEnded) break;
      await Promise.race([once(input, 'readable'), once(input, 'end')]);
      if (input.readableEnded && input.readableLength === 0) break;
      continue;
    }
    chunks.push(c);
    got += c.length;
  }
  const head = Buffer.concat(chunks);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** A program as a transform stream: bytes in through stdin, out of stdout; fails on a non-zero exit. */
export function programStream(cmd: string, args: string[], input: Readable): Readable {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  input.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  child.stdin!.on('error', () => undefined); // the exit status says what went wrong
  input.pipe(child.stdin!);
  child.stdout!.pipe(out, { end: false });
  child.once('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(Object.assign(new Error(`${cmd}: ${err.trim().split('\n')[0] || `exit ${code}`}`), { code: 'EFORMAT' }));
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/** The decompressed bytes of `input`, whatever its compression. */
export async function decompress(input: Readable): Promise<Readable> {
  const kind = sniffCompression(await peek(input, 4));
  if (kind === 'gzip') {
    const g = zlib.createGunzip();
    input.on('error', (e) => g.destroy(e));
    return input.pipe(g);
  }
  if (kind === 'zstd') return programStream('zstd', ['-dcq'], input);
  return input;
}

export function compress(input: Readable, kind: Compression): Readable {
  if (kind === 'gzip') {
    const g = zlib.createGzip();
    input.on('error', (e) => g.destroy(e));
    return input.pipe(g);
  }
  if (kind === 'zstd') return programStream('zstd', ['-cq', '-3'], input);
  return input;
}
