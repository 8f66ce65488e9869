import type { Item, LayerSpec } from './layers';
// mulberry32, the seeded generator the bench's layers use: the same seed always builds the same layers
import { rng } from '../../lib/bench/layers';

export { rng };

export interface GenOptions {
  layers: number;
  /** Operations per layer. */
  opsPerLayer: number;
  /** Deepest directory level. */
  maxDepth: number;
  /** Small pools force collisions between layers: the same names as files in one, dirs in another. */
  namePool?: string[];
  /** Put user xattrs on some objects. */
  xattrs?: boolean;
}

const DEFAULT_NAMES = ['a', 'b', 'c', 'd', 'etc', 'lib', 'x.txt', 'y', 'long-name-' + 'z'.repeat(40), 'sp ace', 'ünï'];

/**
 * Random layer specs, top first, built bottom-up with collisions on purpose: files replaced by
 * directories and back, whiteouts of what lower layers hold, opaque directories, symlinks (some
 * hostile: to '/', '..', absolute host paths), fifos, modes, owners and xattrs.
 */
export function randomLayers(seed: number, opts: GenOptions): LayerSpec[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const names = opts.namePool ?? DEFAULT_NAMES;
  const known = new Set<string>(); // every path any lower layer wrote
  const bottomUp: LayerSpec[] = [];
  for (let l = 0; l < opts.layers; l++) {
    const spec: LayerSpec = {};
    const blocked = (p: string) => {
      // p must be unassigned in this layer, and no ancestor of it a non-directory here.
      if (spec[p] !== undefined) return true;
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) {
        const anc = spec[parts.slice(0, i).join('/')];
        if (anc !== undefined && anc.type !== 'dir') return true;
      }
      return false;
    };
    const hasDescendants = (p: string) => Object.keys(spec).some((k) => k.startsWith(p + '/'));
    const randomPath = () => {
      if (known.size > 0 && r() < 0.6) {
        const k = pick([...known]);
        if (r() < 0.5 || k.split('/').length >= opts.maxDepth) return k;
        return `${k}/${pick(names)}`;
      }
      const depth = 1 + Math.floor(r() * opts.maxDepth);
      return Array.from({ length: depth }, () => pick(names)).join('/');
    };
    for (let i = 0; i < opts.opsPerLayer; i++) {
      const p = randomPath();
      if (blocked(p)) continue;
      const roll = r();
      let item: Item;
      if (roll < 0.35) {
        item = {
          type: 'file',
          content: `L${l}:${p}:${Math.floor(r() * 1e6)}`.repeat(1 + Math.floor(r() * 3)),
          mode: pick([0o644, 0o600, 0o755, 0o4755, 0o444]),
          uid: pick([0, 0, 1000, 65534]),
          gid: pick([0, 0, 100]),
          ...(opts.xattrs && r() < 0.2 ? { xattrs: { 'user.layer': String(l) } } : {}),
        };
      } else if (roll < 0.55) {
        const holdsWhiteout = Object.entries(spec).some(([k, v]) => v.type === 'whiteout' && k.startsWith(p + '/'));
        item = { type: 'dir', mode: pick([0o755, 0o700, 0o1777]), opaque: l > 0 && !holdsWhiteout && r() < 0.15, ...(opts.xattrs && r() < 0.2 ? { xattrs: { 'user.dir': p } } : {}) };
      } else if (roll < 0.75) {
        if (l === 0 || !known.has(p) || hasDescendants(p)) continue;
        // An opaque directory holds no whiteouts (they would mean nothing, and each form reads them differently).
        const parent = spec[p.split('/').slice(0, -1).join('/')];
        if (parent?.type === 'dir' && parent.opaque) continue;
        item = { type: 'whiteout' };
      } else if (roll < 0.9) {
        item = { type: 'symlink', target: pick(['/', '..', '../..', '/etc/passwd', 'a', 'x.txt', 'b/c', '.']) };
      } else {
        item = { type: 'fifo', mode: 0o600 };
      }
      if (item.type !== 'dir' && hasDescendants(p)) continue;
      spec[p] = item;
      // Implicit parent directories exist in this layer too.
      const parts = p.split('/');
      for (let j = 1; j <= parts.length; j++) known.add(parts.slice(0, j).join('/'));
    }
    bottomUp.push(spec);
  }
  return bottomUp.reverse();
}
