/**
 * Where a run is: on a terminal a live bar (workload, implementation, round, ETA) with
 * cli-progress; otherwise one line per workload and round.
 */
import { SingleBar } from 'cli-progress';

export class Progress {
  private bar: SingleBar | null = null;
  private count = 0;
  private lastLine = '';
  private readonly started = Date.now();

  constructor(private readonly mode: 'bar' | 'lines' | 'none', private readonly total: number, private readonly log: (line: string) => void) {
    if (mode === 'bar') {
      this.bar = new SingleBar({
        format: '{bar} {value}/{total} | ETA {eta_formatted} | {workload} | {impl} | round {round}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        stream: process.stderr,
      });
      this.bar.start(total, 0, { workload: '', impl: '', round: '' });
    }
  }

  /** The sample about to be taken. */
  step(workload: string, impl: string, round: number, rounds: number): void {
    this.count++;
    if (this.bar) {
      this.bar.update(this.count - 1, { workload, impl, round: `${round}/${rounds}` });
      return;
    }
    const line = `${workload}, round ${round}/${rounds}`;
    if (this.mode === 'lines' && line !== this.lastLine) {
      this.lastLine = line;
      const elapsed = (Date.now() - this.started) / 1000;
      const eta = this.count > 1 ? Math.round((elapsed / (this.count - 1)) * (this.total - this.count + 1)) : null;
      this.log(`[${this.count}/${this.total}] ${line}${eta === null ? '' : `, ETA ${eta} s`}`);
    }
  }

  /** A message that must not be drawn over by the bar. */
  note(line: string): void {
    if (this.bar) {
      // Clear the bar's line, print, and let the next update redraw it.
      process.stderr.write('\r\x1b[2K');
      this.log(line);
      this.bar.render();
    } else if (this.mode !== 'none') this.log(line);
  }

  done(): void {
    this.bar?.update(this.total);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
