/**
 * Time per request, by opcode: from the moment the request was read to the moment its reply was
 * written (for FORGET, which has no reply: until its handler returned). Kept as a histogram with
 * four buckets per power of two, so percentiles are within 19% and recording costs two clock reads
 * and an increment.
 */
import { performance } from 'node:perf_hooks';
import { opName } from './protocol';

/** What `snapshot()` reports for one opcode; times in microseconds. */
export interface OpLatency {
  count: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
}

const SUB = 4; // buckets per power of two
const BUCKETS = 30 * SUB; // up to 2^30 µs (18 minutes); longer lands in the last bucket

/** Bucket of a duration in µs: 0 for < 1 µs, then SUB per doubling. */
function bucketOf(us: number): number {
  if (us < 1) return 0;
  const b = Math.floor(Math.log2(us) * SUB) + 1;
  return b < BUCKETS ? b : BUCKETS - 1;
}

/** Upper bound of bucket `b` in µs (what a percentile in it reports). */
function bucketTop(b: number): number {
  return b === 0 ? 1 : 2 ** (b / SUB);
}

class OpTimes {
  count = 0;
  totalUs = 0;
  maxUs = 0;
  readonly buckets = new Uint32Array(BUCKETS);

  add(us: number): void {
    this.count++;
    this.totalUs += us;
    if (us > this.maxUs) this.maxUs = us;
    this.buckets[bucketOf(us)]++;
  }

  percentile(p: number): number {
    const want = Math.ceil(this.count * p);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.buckets[b];
      if (seen >= want) return Math.min(bucketTop(b), this.maxUs);
    }
    return this.maxUs;
  }
}

const round = (us: number) => Math.round(us * 10) / 10;

export class LatencyStats {
  /** by opcode: an array for the small ones (looked up once per request), a Map for the rest */
  private readonly small: (OpTimes | undefined)[] = [];
  private readonly large = new Map<number, OpTimes>();

  /** The clock requests are timed with (ms, sub-µs resolution). */
  static now(): number {
    return performance.now();
  }

  /** Records one request of `opcode` that started at `startMs` (a `now()` value) and ended at `endMs` (now). */
  record(opcode: number, startMs: number, endMs = performance.now()): void {
    let t = opcode >= 0 && opcode < 256 ? this.small[opcode] : this.large.get(opcode);
    if (t === undefined) {
      t = new OpTimes();
      if (opcode >= 0 && opcode < 256) this.small[opcode] = t;
      else this.large.set(opcode, t);
    }
    t.add((endMs - startMs) * 1000);
  }

  /** Per opcode name, the commonest first (`nameOf`: another transport's own operation numbers). */
  snapshot(nameOf: (op: number) => string = opName): Record<string, OpLatency> {
    const out: Record<string, OpLatency> = {};
    const ops = [...this.small.entries()].filter((e): e is [number, OpTimes] => e[1] !== undefined)
      .concat([...this.large.entries()]).sort((a, b) => b[1].count - a[1].count);
    for (const [op, t] of ops) {
      out[nameOf(op)] = {
        count: t.count,
        meanUs: round(t.totalUs / t.count),
        p50Us: round(t.percentile(0.5)),
        p90Us: round(t.percentile(0.9)),
        p99Us: round(t.percentile(0.99)),
        maxUs: round(t.maxUs),
      };
    }
    return out;
  }
}
