import { UsageError } from './options';
import { Store } from '../image/store/store';

export interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

/**
 * `--name VALUE`, `--name=VALUE`, `-f`; `valued` lists the options that take a value. Unknown
 * options are usage errors.
 */
export function parseArgs(argv: string[], known: { valued?: string[]; bool?: string[] }, usage: string): Parsed {
  const valued = new Set(['--root', ...(known.valued ?? [])]);
  const bool = new Set(['-q', '--quiet', '--help', '-h', ...(known.bool ?? [])]);
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(0, eq) : a;
      if (valued.has(key)) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new UsageError(`${key} needs a value\n${usage}`);
        flags.set(key, v);
      } else if (bool.has(key) && eq < 0) flags.set(key, true);
      else throw new UsageError(`unknown option "${a}"\n${usage}`);
    } else positional.push(a);
  }
  return { positional, flags };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.flags.get(key);
  return typeof v === 'string' ? v : undefined;
}

export function openStore(p: Parsed): Promise<Store> {
  return Store.open({ root: str(p, '--root') });
}

export function quiet(p: Parsed): boolean {
  return p.flags.has('-q') || p.flags.has('--quiet');
}
