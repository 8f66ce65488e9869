import { Writable } from 'node:stream';

/** Writes every chunk to each of `outs`, at the pace of the slowest; ends them all at the end. */
export class Tee extends Writable {
  constructor(private outs: Writable[]) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let pending = 1;
    const done = () => {
      if (--pending === 0) cb();
    };
    for (const o of this.outs) {
      if (o.destroyed) return cb(new Error('a tee output closed early'));
      if (!o.write(chunk)) {
        pending++;
        o.once('drain', done);
      }
    }
    done();
  }
  override _final(cb: (err?: Error | null) => void): void {
    for (const o of this.outs) o.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) for (const o of this.outs) o.destroy(err);
    cb(err);
  }
}
