/**
 * Progress of a copy (import, export, pull, push): a bar per blob on a terminal (cli-progress),
 * one line per blob otherwise, nothing with `quiet`. Feed it BlobProgress events.
 */
import type { BlobProgress } from '../image/types';

export interface ProgressView {
  onProgress: (p: BlobProgress) => void;
  stop(): void;
}

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream; verb?: string } = {}): ProgressView {
  const out = opts.stream ?? process.stderr;
  if (opts.quiet) return { onProgress: () => undefined, stop: () => undefined };
  if (!out.isTTY) {
    return {
      onProgress: (p) => {
        if (p.state === 'done') out.write(`${short(p.digest)}: ${opts.verb ?? 'copied'} ${formatBytes(p.bytes)}\n`);
        else if (p.state === 'present') out.write(`${short(p.digest)}: already present\n`);
      },
      stop: () => undefined,
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as typeof import('cli-progress');
  const multi = new cliProgress.MultiBar(
    { format: ' {id} [{bar}] {state} {done}/{size}', hideCursor: true, clearOnComplete: false, stream: out, barsize: 30, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, import('cli-progress').SingleBar>();
  let stopped = false;
  return {
    onProgress: (p) => {
      if (stopped) return;
      let bar = bars.get(p.digest);
      const payload = { id: short(p.digest), state: p.state.padEnd(11), done: formatBytes(p.bytes), size: formatBytes(p.total) };
      if (!bar) {
        bar = multi.create(Math.max(1, p.total), 0, payload);
        bars.set(p.digest, bar);
      }
      bar.setTotal(Math.max(1, p.total, p.bytes));
      bar.update(p.state === 'present' || p.state === 'done' ? Math.max(1, p.total, p.bytes) : p.bytes, payload);
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}
