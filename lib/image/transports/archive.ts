/**
 * The tar container of oci-archive: and docker-archive: files: an index of the regular files of an
 * archive (name -> offset, size) read by seeking from header to header, so each blob is then read
 * straight from the archive file at its offset (no extraction, no temporary copy); and a writer of
 * such archives (regular files and directories only). Layer tars are the layer codec's business.
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { ImageError } from '../errors';

export interface ArchiveEntry {
  offset: number;
  size: number;
}

function field(h: Buffer, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(h: Buffer, off: number, len: number): number {
  if (h[off] & 0x80) {
    // base-256 (GNU) for big sizes
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, off, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function normalise(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Name -> where its bytes are, for every regular file of the archive. */
export function indexArchive(file: string): Map<string, ArchiveEntry> {
  const fd = fs.openSync(file, 'r');
  const out = new Map<string, ArchiveEntry>();
  try {
    const size = fs.fstatSync(fd).size;
    const h = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    while (pos + 512 <= size) {
      fs.readSync(fd, h, 0, 512, pos);
      if (h.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
      if (sum !== octal(h, 148, 8)) throw new ImageError('EFORMAT', `${file}: not a tar archive (bad header checksum at byte ${pos})`);
      const type = String.fromCharCode(h[156] || 0x30);
      const len = octal(h, 124, 12);
      const data = pos + 512;
      const next = data + Math.ceil(len / 512) * 512;
      if (next > size) throw new ImageError('EFORMAT', `${file}: truncated archive`);
      if (type === 'L' || type === 'x') {
        const body = Buffer.alloc(len);
        fs.readSync(fd, body, 0, len, data);
        if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
        else paxPath = parsePax(body).path ?? paxPath;
      } else {
        const prefix = field(h, 345, 155);
        const name = paxPath ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
        if (type === '0' || type === '7') out.set(normalise(name), { offset: data, size: len });
        longName = paxPath = undefined;
      }
      pos = next;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function parsePax(body: Buffer): Record<string, string> {
  const rec: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const n = parseInt(body.subarray(i, sp).toString(), 10);
    if (!(n > 0)) break;
    const kv = body.subarray(sp + 1, i + n - 1).toString('utf8');
    const eq = kv.indexOf('=');
    rec[kv.slice(0, eq)] = kv.slice(eq + 1);
    i += n;
  }
  return rec;
}

function header(name: string, size: number, type: '0' | '5' | 'x', mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(mode.toString(8).padStart(7, '0') + '\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write(Math.floor(mtime).toString(8).padStart(11, '0') + '\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

/** Writes a tar of directories and regular files (names over 100 bytes get a PAX path record). */
export class ArchiveWriter {
  private mtime: number;
  constructor(private out: Writable, mtime = 0) {
    this.mtime = mtime;
  }
  private async write(b: Buffer): Promise<void> {
    if (!this.out.write(b)) await new Promise<void>((r) => this.out.once('drain', () => r()));
  }
  private async head(name: string, size: number, type: '0' | '5'): Promise<void> {
    if (Buffer.byteLength(name) > 100) {
      const rec = (k: string, v: string) => {
        const body = ` ${k}=${v}\n`;
        let n = body.length + 1;
        while (String(n).length + Buffer.byteLength(body) !== n) n = String(n).length + Buffer.byteLength(body);
        return `${n}${body}`;
      };
      const pax = Buffer.from(rec('path', name));
      await this.write(header('PaxHeader', pax.length, 'x', 0o644, this.mtime));
      await this.write(Buffer.concat([pax, pad(pax.length)]));
    }
    await this.write(header(name, size, type, type === '5' ? 0o755 : 0o644, this.mtime));
  }
  async dir(name: string): Promise<void> {
    await this.head(name.endsWith('/') ? name : name + '/', 0, '5');
  }
  async file(name: string, data: Buffer | Readable, size?: number): Promise<void> {
    const len = Buffer.isBuffer(data) ? data.length : size!;
    await this.head(name, len, '0');
    if (Buffer.isBuffer(data)) await this.write(data);
    else {
      let n = 0;
      for await (const c of data) {
        n += (c as Buffer).length;
        await this.write(c as Buffer);
      }
      if (n !== len) throw new ImageError('EFORMAT', `archive entry ${name}: ${n} bytes, ${len} announced`);
    }
    await this.write(pad(len));
  }
  async end(): Promise<void> {
    await this.write(Buffer.alloc(1024));
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(() => resolve());
    });
  }
}
