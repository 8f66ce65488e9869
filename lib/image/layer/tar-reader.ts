/**
 * A streaming tar reader for image layers: ustar, GNU ('L'/'K' long names, old GNU sparse 'S'),
 * PAX ('x' and global 'g' headers) with every value kept as bytes (so binary xattrs such as
 * `security.capability` survive exactly), nanosecond times, and GNU sparse files in the formats
 * 0.0, 0.1 and 1.0. Why not tar-stream or node-tar: docs/formats.md.
 *
 * Usage: `for await (const e of readTar(stream)) { for await (const chunk of e.body()) ... }`.
 * A body not read is skipped when the next entry is asked for. The reader reads its input to the
 * end (a digest over the input then covers every byte), and throws LayerError EBADTAR when the
 * input is not a tar or ends inside an entry.
 */
import { badTar } from './errors';

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarTime {
  sec: number;
  nsec: number;
}

/** One run of data in a sparse file: `length` bytes at `offset`; everything else is a hole. */
export interface SparseSegment {
  offset: number;
  length: number;
}

export interface TarEntry {
  /** as written in the tar (PAX path, GNU long name or ustar prefix/name), without a trailing '/' */
  name: string;
  type: EntryType;
  /** permission bits including set-uid, set-gid and sticky (07777) */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** the file's size (for a sparse file, its full size with the holes) */
  size: number;
  mtime: TarTime;
  atime: TarTime | null;
  ctime: TarTime | null;
  /** the target of a symlink or hard link */
  linkname: string;
  devMajor: number;
  devMinor: number;
  /** SCHILY.xattr.* (and LIBARCHIVE.xattr.*), values byte for byte */
  xattrs: Map<string, Buffer>;
  /** the data runs of a sparse file (the body holds their bytes back to back), else null */
  sparse: SparseSegment[] | null;
  /** bytes the body yields (size, or the sum of the sparse runs) */
  dataSize: number;
  /** the body's bytes in chunks; read it at most once, before asking for the next entry */
  body(): AsyncGenerator<Buffer>;
}

const BLOCK = 512;
/** PAX and GNU long-name headers beyond this are refused (a hostile tar could ask for gigabytes). */
const MAX_META = 64 * 1024 * 1024;

/** Buffered reads over an async iterable of chunks. */
class ByteReader {
  private bufs: Buffer[] = [];
  private avail = 0;
  private eof = false;
  /** bytes handed out so far */
  position = 0;
  constructor(private readonly it: AsyncIterator<Buffer | Uint8Array | string>) {}

  /** Stops the input early (a decompressor child behind it is ended). */
  async close(): Promise<void> {
    if (!this.eof) {
      this.eof = true;
      await this.it.return?.();
    }
  }

  private async more(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.it.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const v = r.value;
    const b = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (b.length > 0) {
      this.bufs.push(b);
      this.avail += b.length;
    }
    return true;
  }

  /** true when n bytes are buffered (reading more as needed), false when the input ends first */
  async ensure(n: number): Promise<boolean> {
    while (this.avail < n) if (!(await this.more())) return false;
    return true;
  }

  /** n buffered bytes (a view when they lie in one chunk) */
  take(n: number): Buffer {
    this.avail -= n;
    this.position += n;
    const first = this.bufs[0];
    if (first.length === n) {
      this.bufs.shift();
      return first;
    }
    if (first.length > n) {
      this.bufs[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const b = this.bufs[0];
      const k = Math.min(b.length, n - off);
      b.copy(out, off, 0, k);
      off += k;
      if (k === b.length) this.bufs.shift();
      else this.bufs[0] = b.subarray(k);
    }
    return out;
  }

  /** up to n bytes, at least one; null at the end of input */
  async some(n: number): Promise<Buffer | null> {
    if (this.avail === 0 && !(await this.more())) return null;
    while (this.avail === 0) if (!(await this.more())) return null;
    return this.take(Math.min(n, this.bufs[0].length));
  }

  /** reads and drops n bytes; false when the input ends first */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const b = await this.some(n);
      if (b === null) return false;
      n -= b.length;
    }
    return true;
  }

  /** reads everything left (for digests over the whole input) and says whether any of it is not zero */
  async drain(): Promise<boolean> {
    let nonZero = false;
    for (;;) {
      const b = await this.some(1 << 20);
      if (b === null) return nonZero;
      if (!nonZero && b.some((x) => x !== 0)) nonZero = true;
    }
  }
}

function cstr(buf: Buffer, start: number, len: number): string {
  let end = start;
  const max = start + len;
  while (end < max && buf[end] !== 0) end++;
  return buf.toString('utf8', start, end);
}

/** An octal or base-256 (GNU) numeric field; NaN when unparseable. */
function num(buf: Buffer, start: number, len: number): number {
  const first = buf[start];
  if (first & 0x80) {
    const negative = first === 0xff;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let byte = i === 0 ? first & 0x7f : buf[start + i];
      if (negative) byte = (i === 0 ? 0x7f : 0xff) - byte;
      v = v * 256 + byte;
    }
    return negative ? -(v + 1) : v;
  }
  let i = start;
  const end = start + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return NaN;
    v = v * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : v;
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

function isZero(h: Buffer): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

/** "sec[.frac]" of a PAX time, with nanoseconds; null when malformed. */
export function parsePaxTime(s: string): TarTime | null {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return null;
  let sec = Number(m[2]);
  let nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9));
  if (m[1] === '-') {
    sec = -sec;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  return { sec, nsec };
}

/** The records of a PAX header, in order, values as bytes. */
export function parsePax(buf: Buffer, entry: string): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // padding after the last record
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw badTar('malformed PAX record', entry);
    const len = Number(buf.toString('latin1', pos, sp));
    if (!Number.isInteger(len) || len <= sp - pos + 1 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw badTar('malformed PAX record', entry);
    }
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= pos + len - 1) throw badTar('malformed PAX record (no "=")', entry);
    out.push([buf.toString('utf8', sp + 1, eq), Buffer.from(buf.subarray(eq + 1, pos + len - 1))]);
    pos += len;
  }
  return out;
}

function decimal(v: Buffer, key: string, entry: string): number {
  const s = v.toString('latin1');
  if (!/^\d+$/.test(s)) throw badTar(`PAX ${key} is not a number: ${JSON.stringify(s)}`, entry);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw badTar(`PAX ${key} out of range`, entry);
  return n;
}

function sparseList(nums: number[], entry: string): SparseSegment[] {
  if (nums.length % 2 !== 0) throw badTar('odd number of values in the sparse map', entry);
  const out: SparseSegment[] = [];
  for (let i = 0; i < nums.length; i += 2) out.push({ offset: nums[i], length: nums[i + 1] });
  return out;
}

/** Checks the runs are in order, inside the file, and hold exactly the body's bytes; drops empty runs. */
function checkSparse(segs: SparseSegment[], size: number, dataSize: number, entry: string): SparseSegment[] {
  let end = 0;
  let total = 0;
  const out: SparseSegment[] = [];
  for (const s of segs) {
    if (!Number.isSafeInteger(s.offset) || !Number.isSafeInteger(s.length) || s.offset < end || s.length < 0 || s.offset + s.length > size) {
      throw badTar('sparse map out of order or beyond the file size', entry);
    }
    end = s.offset + s.length;
    total += s.length;
    if (s.length > 0) out.push(s);
  }
  if (total !== dataSize) throw badTar(`sparse map holds ${total} bytes but the entry ${dataSize}`, entry);
  return out;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
  'S': 'file', 'D': 'dir',
};

export interface ReadTarOptions {
  /** called with the bytes of the tar consumed so far, after each entry */
  onEntry?(position: number): void;
}

/** Reads a tar stream entry by entry. See the module comment. */
export async function* readTar(input: AsyncIterable<Buffer | Uint8Array | string>, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const r = new ByteReader(input[Symbol.asyncIterator]());
  const globals = new Map<string, Buffer>();
  try {
    yield* entries(r, globals, opts);
  } finally {
    // also when the caller stops early or fails: the input (and any child decoding it) is closed
    await r.close();
  }
}

async function* entries(r: ByteReader, globals: Map<string, Buffer>, opts: ReadTarOptions): AsyncGenerator<TarEntry> {
  let local: [string, Buffer][] = [];
  let longName: string | null = null;
  let longLink: string | null = null;
  let last = '(start of archive)';

  const readMeta = async (size: number, what: string): Promise<Buffer> => {
    if (size > MAX_META) throw badTar(`${what} of ${size} bytes is too large`, last);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (!(await r.ensure(padded))) throw badTar(`the stream ends inside a ${what}`, last);
    return Buffer.from(r.take(padded).subarray(0, size));
  };

  for (;;) {
    if (!(await r.ensure(BLOCK))) {
      // A clean end on a block boundary without the two zero blocks is accepted (as Go's reader does);
      // a partial block is not.
      await r.drain();
      if (r.position % BLOCK !== 0) throw badTar('the stream ends inside a header', last);
      if (longName !== null || longLink !== null || local.length > 0) throw badTar('the stream ends after an extended header', last);
      return;
    }
    const h = r.take(BLOCK);
    if (isZero(h)) {
      await r.drain();
      return;
    }
    if (!checksumOk(h)) throw badTar(`header checksum mismatch after ${JSON.stringify(last)} (not a tar, or damaged)`);
    const flag = String.fromCharCode(h[156]);
    const hsize = num(h, 124, 12);
    if (!Number.isSafeInteger(hsize) || hsize < 0) throw badTar('bad size field', cstr(h, 0, 100));

    if (flag === 'x' || flag === 'g') {
      const recs = parsePax(await readMeta(hsize, 'PAX header'), last);
      if (flag === 'g') {
        for (const [k, v] of recs) {
          if (v.length === 0) globals.delete(k);
          else globals.set(k, v);
        }
      } else {
        local = local.concat(recs);
      }
      continue;
    }
    if (flag === 'L') {
      longName = (await readMeta(hsize, 'GNU long name')).toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (flag === 'K') {
      longLink = (await readMeta(hsize, 'GNU long link name')).toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (flag === 'V') {
      // a volume label: no file
      if (!(await r.skip(Math.ceil(hsize / BLOCK) * BLOCK))) throw badTar('the stream ends inside a volume label', last);
      continue;
    }
    const type = TYPES[flag];
    const rawName = cstr(h, 0, 100);
    if (type === undefined) throw badTar(`unsupported entry type ${JSON.stringify(flag)}`, longName ?? rawName);

    const magic = h.toString('latin1', 257, 263);
    const gnu = magic === 'ustar ' && h[263] === 0x20;
    let name = rawName;
    if (magic === 'ustar\0' && h[345] !== 0) name = cstr(h, 345, 155) + '/' + rawName;
    if (longName !== null) name = longName;
    const linkname = longLink ?? cstr(h, 157, 100);
    longName = longLink = null;

    const entry: Omit<TarEntry, 'body'> = {
      name, type, mode: num(h, 100, 8) & 0o7777, uid: num(h, 108, 8), gid: num(h, 116, 8),
      uname: cstr(h, 265, 32), gname: cstr(h, 297, 32), size: hsize,
      mtime: { sec: num(h, 136, 12), nsec: 0 }, atime: null, ctime: null, linkname,
      devMajor: num(h, 329, 8) || 0, devMinor: num(h, 337, 8) || 0,
      xattrs: new Map(), sparse: null, dataSize: hsize,
    };
    if (gnu) {
      const a = num(h, 345, 12), c = num(h, 357, 12);
      if (a > 0) entry.atime = { sec: a, nsec: 0 };
      if (c > 0) entry.ctime = { sec: c, nsec: 0 };
    }
    if (Number.isNaN(entry.uid) || Number.isNaN(entry.gid) || Number.isNaN(entry.mtime.sec) || Number.isNaN(entry.mode)) {
      throw badTar('bad numeric field in header', name);
    }

    // PAX: globals first, then this entry's records in order (later ones win).
    let sparseMajor = -1;
    let sparseRealSize = -1;
    let sparseName: string | null = null;
    let sparseNums: number[] = [];
    let sparseMap: string | null = null;
    const records = globals.size > 0 ? [...globals.entries(), ...local] : local;
    local = [];
    for (const [key, v] of records) {
      switch (key) {
        case 'path': entry.name = v.toString('utf8'); break;
        case 'linkpath': entry.linkname = v.toString('utf8'); break;
        case 'size': entry.size = entry.dataSize = decimal(v, key, name); break;
        case 'uid': entry.uid = decimal(v, key, name); break;
        case 'gid': entry.gid = decimal(v, key, name); break;
        case 'uname': entry.uname = v.toString('utf8'); break;
        case 'gname': entry.gname = v.toString('utf8'); break;
        case 'mtime': case 'atime': case 'ctime': {
          const t = parsePaxTime(v.toString('latin1'));
          if (t === null) throw badTar(`PAX ${key} is malformed: ${JSON.stringify(v.toString('latin1'))}`, name);
          entry[key] = t;
          break;
        }
        case 'SCHILY.devmajor': entry.devMajor = decimal(v, key, name); break;
        case 'SCHILY.devminor': entry.devMinor = decimal(v, key, name); break;
        case 'GNU.sparse.major': sparseMajor = decimal(v, key, name); break;
        case 'GNU.sparse.name': sparseName = v.toString('utf8'); break;
        case 'GNU.sparse.realsize': case 'GNU.sparse.size': sparseRealSize = decimal(v, key, name); break;
        case 'GNU.sparse.offset': case 'GNU.sparse.numbytes': sparseNums.push(decimal(v, key, name)); break;
        case 'GNU.sparse.map': sparseMap = v.toString('latin1'); break;
        default:
          if (key.startsWith('SCHILY.xattr.')) entry.xattrs.set(key.slice(13), v);
          else if (key.startsWith('LIBARCHIVE.xattr.')) {
            const xname = decodeURIComponent(key.slice(17));
            entry.xattrs.set(xname, Buffer.from(v.toString('latin1'), 'base64'));
          }
      }
    }

    // Sparse files.
    let mapBytes = 0;
    if (flag === 'S') {
      // Old GNU: four runs in the header, more in extension blocks.
      const nums: number[] = [];
      const runs = (b: Buffer, at: number, count: number): void => {
        for (let i = 0; i < count; i++) {
          const o = at + i * 24;
          if (b[o] === 0) break;
          nums.push(num(b, o, 12), num(b, o + 12, 12));
        }
      };
      runs(h, 386, 4);
      let extended = h[482] !== 0;
      while (extended) {
        if (!(await r.ensure(BLOCK))) throw badTar('the stream ends inside a sparse header', entry.name);
        const x = r.take(BLOCK);
        runs(x, 0, 21);
        extended = x[504] !== 0;
      }
      entry.sparse = sparseList(nums, entry.name);
      entry.size = num(h, 483, 12);
    } else if (sparseMajor === 1) {
      // 1.0: the map leads the body in decimal lines, padded to a block.
      const nums: number[] = [];
      let want = -1;
      let text = '';
      while (want < 0 || nums.length < want * 2 + 1) {
        if (mapBytes + BLOCK > entry.dataSize) throw badTar('sparse map longer than the entry', entry.name);
        if (!(await r.ensure(BLOCK))) throw badTar('the stream ends inside a sparse map', entry.name);
        text += r.take(BLOCK).toString('latin1');
        mapBytes += BLOCK;
        const lines = text.split('\n');
        text = lines.pop() ?? '';
        for (const line of lines) {
          if (want >= 0 && nums.length >= want * 2 + 1) break;
          if (!/^\d+$/.test(line)) throw badTar('malformed sparse map', entry.name);
          nums.push(Number(line));
          if (nums.length === 1) {
            want = nums[0];
            if (want > 1 << 24) throw badTar('sparse map too long', entry.name);
          }
        }
      }
      entry.dataSize -= mapBytes;
      entry.sparse = sparseList(nums.slice(1), entry.name);
      if (sparseRealSize >= 0) entry.size = sparseRealSize;
      if (sparseName !== null) entry.name = sparseName;
    } else if (sparseMap !== null || sparseNums.length > 0) {
      // 0.1 (GNU.sparse.map) or 0.0 (GNU.sparse.offset/numbytes pairs)
      const nums = sparseMap !== null ? (sparseMap === '' ? [] : sparseMap.split(',').map((s) => {
        if (!/^\d+$/.test(s)) throw badTar('malformed GNU.sparse.map', entry.name);
        return Number(s);
      })) : sparseNums;
      entry.sparse = sparseList(nums, entry.name);
      if (sparseRealSize >= 0) entry.size = sparseRealSize;
      if (sparseName !== null) entry.name = sparseName;
    }
    if (entry.sparse !== null) entry.sparse = checkSparse(entry.sparse, entry.size, entry.dataSize, entry.name);

    // Names: a trailing '/' marks a directory in old tars; it is not part of the name.
    if (entry.name.endsWith('/') && entry.type === 'file' && flag !== 'S') entry.type = 'dir';
    while (entry.name.length > 1 && entry.name.endsWith('/')) entry.name = entry.name.slice(0, -1);
    if (entry.name === '') throw badTar('empty entry name', last);
    if (entry.name.includes('\0') || entry.linkname.includes('\0')) throw badTar('NUL byte in a name', entry.name);

    // Only regular files carry data. Other types have none whatever their size field says (as Go's
    // archive/tar reads them), except GNU dumpdirs, whose listing is skipped.
    const carries = entry.type === 'file';
    const bodyBytes = carries ? entry.dataSize : flag === 'D' ? hsize : 0;
    if (!carries) entry.dataSize = entry.size = 0;
    last = entry.name;

    let left = carries ? bodyBytes : 0;
    let skipLeft = carries ? 0 : bodyBytes;
    const entryName = entry.name;
    const full = entry as TarEntry;
    full.body = async function* body(): AsyncGenerator<Buffer> {
      while (left > 0) {
        const b = await r.some(Math.min(left, 1 << 20));
        if (b === null) throw badTar(`the stream ends ${left} bytes before the end of the entry's data`, entryName);
        left -= b.length;
        yield b;
      }
    };
    yield full;
    // Skip what the caller left unread, then the padding.
    if (left > 0) {
      if (!(await r.skip(left))) throw badTar(`the stream ends ${left} bytes before the end of the entry's data`, entryName);
      left = 0;
    }
    skipLeft += (BLOCK - ((carries ? bodyBytes : skipLeft) % BLOCK)) % BLOCK;
    if (skipLeft > 0 && !(await r.skip(skipLeft))) {
      throw badTar('the stream ends inside the entry (its size goes beyond the stream)', entryName);
    }
    opts.onEntry?.(r.position);
  }
}
