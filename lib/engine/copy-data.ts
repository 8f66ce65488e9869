import * as sys from '../sys';
import { SEEK } from '../sys';
import { hasCode } from './errors';

/** Which data-copy method works between two filesystems, learned on first use and remembered. */
interface Methods {
  reflink: boolean;
  copyFileRange: boolean;
}

const learned = new Map<string, Methods>();
const CHUNK = 64 * 1024 * 1024;
const RW_BUFFER = 1024 * 1024;

export type CopyMethod = 'reflink' | 'copy_file_range' | 'read_write';

/** Bytes copied and how, for statistics. */
export interface CopyResult {
  bytes: number;
  method: CopyMethod;
}

function methodsFor(srcDev: number, dstDev: number): Methods {
  const key = `${srcDev}:${dstDev}`;
  let m = learned.get(key);
  if (m === undefined) {
    m = { reflink: true, copyFileRange: true };
    learned.set(key, m);
  }
  return m;
}

/** The data segments of a file, skipping holes (SEEK_DATA/SEEK_HOLE; one segment where unsupported). */
export function dataSegments(fd: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  let pos = 0;
  while (pos < size) {
    let start: number;
    try {
      start = sys.lseek(fd, pos, SEEK.DATA);
    } catch (err) {
      if (hasCode(err, 'ENXIO')) break; // only a hole up to the end
      if (hasCode(err, 'EINVAL', 'EOPNOTSUPP')) return [[pos, size - pos]];
      throw err;
    }
    if (start >= size) break;
    let end: number;
    try {
      end = Math.min(size, sys.lseek(fd, start, SEEK.HOLE));
    } catch {
      end = size;
    }
    out.push([start, end - start]);
    pos = end;
  }
  return out;
}

async function copyRange(src: number, dst: number, start: number, len: number, m: Methods): Promise<CopyMethod> {
  let done = 0;
  if (m.copyFileRange) {
    try {
      while (done < len) {
        const n = await sys.copyFileRangeAsync(src, start + done, dst, start + done, Math.min(CHUNK, len - done));
        if (n === 0) return 'copy_file_range'; // source shrank: stop at its end
        done += n;
      }
      return 'copy_file_range';
    } catch (err) {
      if (!hasCode(err, 'EXDEV', 'EOPNOTSUPP', 'ENOSYS', 'EINVAL') || done > 0) throw err;
      m.copyFileRange = false;
    }
  }
  const buf = Buffer.allocUnsafe(Math.min(RW_BUFFER, Math.max(len, 1)));
  while (done < len) {
    const n = sys.pread(src, buf, 0, Math.min(buf.length, len - done), start + done);
    if (n === 0) break;
    let w = 0;
    while (w < n) w += sys.pwrite(dst, buf, w, n - w, start + done + w);
    done += n;
  }
  return 'read_write';
}

/**
 * Copies all data of `src` (size `size`) into the empty file `dst`, fastest way first: a reflink
 * (O(1), shares extents, keeps holes), else copy_file_range over the data segments only, else a
 * read/write loop over them; the size is set last so trailing holes stay holes.
 */
export async function copyData(src: number, dst: number, size: number, srcDev: number, dstDev: number): Promise<CopyResult> {
  const m = methodsFor(srcDev, dstDev);
  if (m.reflink && size > 0) {
    try {
      await sys.ficloneAsync(dst, src);
      return { bytes: size, method: 'reflink' };
    } catch (err) {
      if (!hasCode(err, 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS', 'EPERM')) throw err;
      m.reflink = false;
    }
  }
  let method: CopyMethod = m.copyFileRange ? 'copy_file_range' : 'read_write';
  let bytes = 0;
  for (const [start, len] of dataSegments(src, size)) {
    method = await copyRange(src, dst, start, len, m);
    bytes += len;
  }
  sys.ftruncate(dst, size);
  return { bytes, method };
}
