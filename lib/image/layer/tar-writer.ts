/**
 * A deterministic tar writer: POSIX ustar headers, with a PAX header only where ustar cannot hold a
 * field (long names and link targets, large ids or sizes, nanosecond or negative times, device
 * numbers beyond 7 octal digits) and for xattrs (`SCHILY.xattr.NAME`, value byte for byte). PAX
 * records are sorted by key; nothing depends on the clock, the pid or the host's user database, so
 * the same entries always give the same bytes. Sparse files are written in GNU's PAX format 1.0.
 */
import type { EntryType, SparseSegment, TarTime } from './tar-reader';
import { LayerError } from './errors';

export interface TarWriteEntry {
  /** relative name without a leading '/' (directories get their trailing '/' here) */
  name: string;
  type: EntryType;
  /** permission bits incl. set-id and sticky */
  mode: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** a regular file's size (with holes, for a sparse file) */
  size?: number;
  mtime: TarTime;
  /** written only when given */
  atime?: TarTime | null;
  ctime?: TarTime | null;
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Map<string, Buffer> | null;
  /** a sparse file's data runs (its body is their bytes back to back) */
  sparse?: SparseSegment[] | null;
}

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);
const TYPEFLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function paxRecord(key: string, value: Buffer): Buffer {
  const kv = Buffer.byteLength(key) + value.length + 3;
  let len = kv + String(kv).length;
  if (String(len).length !== String(kv).length) len = kv + String(len).length;
  const head = Buffer.from(`${len} ${key}=`);
  return Buffer.concat([head, value, Buffer.from('\n')]);
}

function fmtTime(t: TarTime): string {
  if (t.nsec === 0) return String(t.sec);
  if (t.sec < 0) {
    // -1.5 s is sec -2, nsec 5e8
    const whole = t.sec + 1;
    const frac = String(1e9 - t.nsec).padStart(9, '0').replace(/0+$/, '');
    return `${whole === 0 ? '-0' : whole}.${frac}`;
  }
  return `${t.sec}.${String(t.nsec).padStart(9, '0').replace(/0+$/, '')}`;
}

/** Writes an octal field of `len` bytes (len-1 digits and a NUL); false when the value does not fit. */
function octal(buf: Buffer, off: number, len: number, v: number): boolean {
  if (!Number.isSafeInteger(v) || v < 0) return false;
  const s = v.toString(8);
  if (s.length > len - 1) return false;
  buf.write(s.padStart(len - 1, '0'), off, 'latin1');
  buf[off + len - 1] = 0;
  return true;
}

function field(buf: Buffer, off: number, len: number, s: string): boolean {
  const b = Buffer.from(s);
  if (b.length > len) return false;
  b.copy(buf, off);
  return true;
}

function paxPath(name: string): string {
  const slash = name.replace(/\/$/, '').lastIndexOf('/');
  const base = name.slice(slash + 1);
  const dir = slash >= 0 ? name.slice(0, slash + 1) : '';
  return Buffer.from(`${dir}PaxHeaders/${base}`).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, '');
}

/** The header block(s) of one entry: an optional PAX header, then the ustar header. */
export function encodeHeaders(e: TarWriteEntry, dataSize: number, sparseMap: Buffer | null): Buffer {
  let name = e.name;
  if (name === '' || name.startsWith('/')) throw new LayerError('EINVAL', `tar writer: bad entry name ${JSON.stringify(name)}`);
  if (e.type === 'dir' && !name.endsWith('/')) name += '/';
  const pax = new Map<string, Buffer>();
  const h = Buffer.alloc(BLOCK);
  let headerName = name;
  if (sparseMap !== null) {
    pax.set('GNU.sparse.major', Buffer.from('1'));
    pax.set('GNU.sparse.minor', Buffer.from('0'));
    pax.set('GNU.sparse.name', Buffer.from(name));
    pax.set('GNU.sparse.realsize', Buffer.from(String(e.size ?? 0)));
    const slash = name.lastIndexOf('/');
    headerName = `${name.slice(0, slash + 1)}GNUSparseFile.0/${name.slice(slash + 1)}`;
  }
  if (!field(h, 0, 100, headerName)) {
    if (sparseMap === null) pax.set('path', Buffer.from(name));
    field(h, 0, 100, Buffer.from(headerName).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, ''));
  }
  octal(h, 100, 8, e.mode & 0o7777);
  const uid = e.uid ?? 0, gid = e.gid ?? 0;
  if (!octal(h, 108, 8, uid)) { pax.set('uid', Buffer.from(String(uid))); octal(h, 108, 8, 0); }
  if (!octal(h, 116, 8, gid)) { pax.set('gid', Buffer.from(String(gid))); octal(h, 116, 8, 0); }
  const size = sparseMap !== null ? sparseMap.length + dataSize : dataSize;
  if (!octal(h, 124, 12, size)) { pax.set('size', Buffer.from(String(size))); octal(h, 124, 12, 0); }
  const mt = e.mtime;
  if (mt.nsec !== 0 || !octal(h, 136, 12, mt.sec)) {
    pax.set('mtime', Buffer.from(fmtTime(mt)));
    octal(h, 136, 12, Math.max(0, Math.min(mt.sec, 0o77777777777)));
  }
  if (e.atime) pax.set('atime', Buffer.from(fmtTime(e.atime)));
  if (e.ctime) pax.set('ctime', Buffer.from(fmtTime(e.ctime)));
  h.write(TYPEFLAG[e.type], 156, 'latin1');
  const link = e.linkname ?? '';
  if (!field(h, 157, 100, link)) {
    pax.set('linkpath', Buffer.from(link));
    field(h, 157, 100, Buffer.from(link).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, ''));
  }
  h.write('ustar\x0000', 257, 'latin1');
  if (e.uname && !field(h, 265, 32, e.uname)) pax.set('uname', Buffer.from(e.uname));
  if (e.gname && !field(h, 297, 32, e.gname)) pax.set('gname', Buffer.from(e.gname));
  if (e.type === 'char' || e.type === 'block') {
    const ma = e.devMajor ?? 0, mi = e.devMinor ?? 0;
    if (!octal(h, 329, 8, ma)) { pax.set('SCHILY.devmajor', Buffer.from(String(ma))); octal(h, 329, 8, 0); }
    if (!octal(h, 337, 8, mi)) { pax.set('SCHILY.devminor', Buffer.from(String(mi))); octal(h, 337, 8, 0); }
  }
  if (e.xattrs) for (const [k, v] of e.xattrs) pax.set('SCHILY.xattr.' + k, v);
  checksum(h);
  if (pax.size === 0) return h;

  const keys = [...pax.keys()].sort();
  const body = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k)!)));
  const ph = Buffer.alloc(BLOCK);
  field(ph, 0, 100, paxPath(name));
  octal(ph, 100, 8, 0o644);
  octal(ph, 108, 8, 0);
  octal(ph, 116, 8, 0);
  octal(ph, 124, 12, body.length);
  octal(ph, 136, 12, Math.max(0, Math.min(mt.sec, 0o77777777777)));
  ph.write('x', 156, 'latin1');
  ph.write('ustar\x0000', 257, 'latin1');
  checksum(ph);
  const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
  return Buffer.concat([ph, body, Buffer.alloc(pad), h]);
}

function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  h[154] = 0;
  h[155] = 0x20;
}

/** The GNU 1.0 sparse map that leads a sparse file's body, padded to a block. */
function sparseMapBlock(runs: SparseSegment[], size: number): Buffer {
  // A file ending in a hole ends its map with an empty run at its size, as GNU tar writes and reads it.
  const last = runs[runs.length - 1];
  const segs = last === undefined || last.offset + last.length < size ? [...runs, { offset: size, length: 0 }] : runs;
  const text = [String(segs.length), ...segs.flatMap((s) => [String(s.offset), String(s.length)])].join('\n') + '\n';
  const b = Buffer.from(text, 'latin1');
  return Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)]);
}

export type TarSink = (chunk: Buffer) => void | Promise<void>;

/** Writes entries to `sink` in the order given (sorting is the caller's policy). */
export class TarWriter {
  /** bytes handed to the sink */
  bytes = 0;
  private finished = false;
  constructor(private readonly sink: TarSink) {}

  private async out(b: Buffer): Promise<void> {
    this.bytes += b.length;
    await this.sink(b);
  }

  /**
   * Adds one entry. A regular file's body is `size` bytes (for a sparse file, the bytes of its runs
   * back to back); other types have none.
   */
  async add(e: TarWriteEntry, body?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    if (this.finished) throw new LayerError('EINVAL', 'tar writer: add after finish');
    let dataSize = 0;
    let map: Buffer | null = null;
    if (e.type === 'file') {
      if (e.sparse) {
        // GNU tar reads each run's data block by block and drops the rest of a run's last block:
        // every run but the last must start and end on a block (SEEK_DATA runs always do).
        e.sparse.forEach((r, i) => {
          if (r.offset % BLOCK !== 0 || (i < e.sparse!.length - 1 && r.length % BLOCK !== 0)) {
            throw new LayerError('EINVAL', `tar writer: ${e.name}: sparse runs must be ${BLOCK}-byte aligned (all but the last one's end)`);
          }
        });
        dataSize = e.sparse.reduce((n, s) => n + s.length, 0);
        map = sparseMapBlock(e.sparse, e.size ?? 0);
      } else {
        dataSize = e.size ?? (Buffer.isBuffer(body) ? body.length : 0);
      }
    }
    const head = encodeHeaders(e, dataSize, map);
    if (dataSize === 0) {
      await this.out(head);
      return;
    }
    let wrote = 0;
    const pad = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (Buffer.isBuffer(body)) {
      if (body.length !== dataSize) throw new LayerError('EINVAL', `tar writer: ${e.name}: body is ${body.length} bytes, not ${dataSize}`);
      await this.out(Buffer.concat(map ? [head, map, body, ZERO.subarray(0, pad)] : [head, body, ZERO.subarray(0, pad)]));
      return;
    }
    await this.out(map ? Buffer.concat([head, map]) : head);
    if (body) {
      for await (const chunk of body) {
        wrote += chunk.length;
        if (wrote > dataSize) break;
        await this.out(chunk);
      }
    }
    if (wrote !== dataSize) throw new LayerError('EINVAL', `tar writer: ${e.name}: body is ${wrote} bytes, not ${dataSize} (the file changed while it was read?)`);
    if (pad > 0) await this.out(ZERO.subarray(0, pad));
  }

  /** The end-of-archive marker (two zero blocks). */
  async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.out(ZERO);
  }
}

/** A whole tar in memory (for tests and small layers). */
export async function buildTar(entries: { entry: TarWriteEntry; body?: Buffer }[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const w = new TarWriter((b) => { parts.push(Buffer.from(b)); });
  for (const { entry, body } of entries) await w.add(entry, body);
  await w.finish();
  return Buffer.concat(parts);
}
