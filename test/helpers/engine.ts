import { Overlay } from '../../lib/engine';
import type { OverlayOptions } from '../../lib/engine';
import { LayerSpec, makeLayerSet } from './layers';

/** An engine over fresh layers built from `specs` (metacopy on), closed and removed after `fn`. */
export async function withOverlay(
  specs: LayerSpec[], fn: (ov: Overlay, upper: string) => Promise<void>, extra: Partial<OverlayOptions> = {},
): Promise<void> {
  const set = makeLayerSet(specs);
  const ov = Overlay.open({ lower: set.lower, upper: set.upper, work: set.work, metacopy: true, ...extra });
  try {
    await fn(ov, set.upper);
  } finally {
    ov.close();
    set.remove();
  }
}

/** 'ok', or the error code the promise was rejected with. */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

/** The names in a merged directory, sorted. */
export const names = (ov: Overlay, p: string) => ov.readdir(p).map((e) => e.name).sort();
