/**
 * `layerfs image pull`, `layerfs image push`, `layerfs login`, `layerfs logout`: the registry
 * side of the CLI. Progress per layer through lib/cli/progress.ts; errors are the transport's one
 * line; passwords are read from stdin, never from the command line's echo.
 */
import { parsePlatform } from '../image/platform';
import { login, logout } from '../image/registry/login';
import { pullImage, pushImage } from '../image/registry/pull';
import { openStore, parseArgs, Parsed, quiet, str } from './image-args';
import { UsageError } from './options';
import { createProgress, formatBytes } from './progress';

export const PULL_USAGE = `usage: layerfs image pull [docker://]REF [--platform OS/ARCH[/VARIANT]] [--jobs N] [--tls-verify=false] [--authfile FILE] [--creds USER:PASSWORD] [--retries N] [-q] [--root DIR]
  REF: [HOST[:PORT]/]REPO[:TAG|@sha256:DIGEST] (docker.io, library/ and latest by default)`;
export const PUSH_USAGE = `usage: layerfs image push IMAGE [docker://]REF [--jobs N] [--chunk-size BYTES] [--tls-verify=false] [--authfile FILE] [--creds USER:PASSWORD] [--digestfile FILE] [-q] [--root DIR]`;
export const LOGIN_USAGE = `usage: layerfs login HOST [-u USER] [--password-stdin] [--tls-verify=false] [--authfile FILE]
       layerfs logout HOST [--authfile FILE]`;

const COMMON = ['--authfile', '--creds', '--tls-verify', '--retries', '--jobs'];

function intFlag(p: Parsed, key: string, min: number): number | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${key} takes an integer of at least ${min}, got "${v}"`);
  return Number(v);
}

function clientOptions(p: Parsed): { tlsVerify?: boolean; authFile?: string; credentials?: { username: string; password: string }; retries?: number } {
  const o: ReturnType<typeof clientOptions> = {};
  const tls = str(p, '--tls-verify');
  if (tls !== undefined) {
    if (tls !== 'true' && tls !== 'false') throw new UsageError(`--tls-verify takes true or false, got "${tls}"`);
    o.tlsVerify = tls === 'true';
  }
  const af = str(p, '--authfile');
  if (af !== undefined) o.authFile = af;
  const creds = str(p, '--creds');
  if (creds !== undefined) {
    const i = creds.indexOf(':');
    if (i <= 0) throw new UsageError('--creds takes USER:PASSWORD');
    o.credentials = { username: creds.slice(0, i), password: creds.slice(i + 1) };
  }
  const retries = intFlag(p, '--retries', 0);
  if (retries !== undefined) o.retries = retries;
  return o;
}

export async function pullCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { valued: [...COMMON, '--platform'] }, PULL_USAGE);
  if (p.flags.has('--help') || p.flags.has('-h')) {
    process.stdout.write(PULL_USAGE + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(PULL_USAGE);
  const store = await openStore(p);
  const view = createProgress({ quiet: quiet(p), verb: 'pulled' });
  const t0 = Date.now();
  try {
    const platform = str(p, '--platform');
    const jobs = intFlag(p, '--jobs', 1);
    const r = await pullImage(store, p.positional[0]!, {
      ...clientOptions(p),
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      ...(jobs !== undefined ? { concurrency: jobs } : {}),
      onProgress: view.onProgress,
    });
    view.stop();
    const secs = (Date.now() - t0) / 1000;
    if (!quiet(p)) {
      process.stderr.write(`${r.copied} blobs pulled (${formatBytes(r.received)} in ${secs.toFixed(1)} s), ${r.skipped} already present\n`);
    }
    process.stdout.write(`${r.digest}\n`);
    return 0;
  } finally {
    view.stop();
    store.close();
  }
}

export async function pushCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { valued: [...COMMON, '--chunk-size', '--digestfile'] }, PUSH_USAGE);
  if (p.flags.has('--help') || p.flags.has('-h')) {
    process.stdout.write(PUSH_USAGE + '\n');
    return 0;
  }
  if (p.positional.length !== 2) throw new UsageError(PUSH_USAGE);
  const store = await openStore(p);
  const view = createProgress({ quiet: quiet(p), verb: 'pushed' });
  try {
    const jobs = intFlag(p, '--jobs', 1);
    const chunk = intFlag(p, '--chunk-size', 1);
    const r = await pushImage(store, p.positional[0]!, p.positional[1]!, {
      ...clientOptions(p),
      ...(jobs !== undefined ? { concurrency: jobs } : {}),
      ...(chunk !== undefined ? { chunkSize: chunk } : {}),
      onProgress: view.onProgress,
    });
    view.stop();
    const df = str(p, '--digestfile');
    if (df !== undefined) require('node:fs').writeFileSync(df, r.digest);
    process.stdout.write(`${r.digest}\n`);
    return 0;
  } finally {
    view.stop();
    store.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const { stdin, stderr } = process;
  if (!stdin.isTTY) throw new UsageError('no terminal to ask the password on: use --password-stdin');
  stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let s = '';
  try {
    for await (const c of stdin as AsyncIterable<Buffer>) {
      for (const ch of c.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return s;
        if (ch === '\u0003') throw new UsageError('interrupted');
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    }
    return s;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    stderr.write('\n');
  }
}

export async function loginCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { valued: ['-u', '--username', '-p', '--password', '--authfile', '--tls-verify'], bool: ['--password-stdin'] }, LOGIN_USAGE);
  if (p.flags.has('--help') || p.flags.has('-h')) {
    process.stdout.write(LOGIN_USAGE + '\n');
    return 0;
  }
  if (p.positional.length !== 1) throw new UsageError(LOGIN_USAGE);
  let username = str(p, '-u') ?? str(p, '--username');
  if (username === undefined) {
    if (!process.stdin.isTTY) throw new UsageError('login: -u USER is required when stdin is not a terminal');
    process.stderr.write('Username: ');
    username = await new Promise<string>((resolve) => process.stdin.once('data', (d) => resolve(d.toString().trim())));
    process.stdin.pause();
  }
  let password = str(p, '-p') ?? str(p, '--password');
  if (password === undefined) password = p.flags.has('--password-stdin') ? await readStdin() : await promptHidden('Password: ');
  const o = clientOptions(p);
  const file = await login(p.positional[0]!, { username, password }, { ...(o.tlsVerify !== undefined ? { tlsVerify: o.tlsVerify } : {}), ...(o.authFile !== undefined ? { authFile: o.authFile } : {}) });
  process.stderr.write(`Login succeeded (credentials stored in ${file})\n`);
  return 0;
}

export async function logoutCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, { valued: ['--authfile'] }, LOGIN_USAGE);
  if (p.positional.length !== 1) throw new UsageError(LOGIN_USAGE);
  const af = str(p, '--authfile');
  const removed = logout(p.positional[0]!, af !== undefined ? { authFile: af } : {});
  process.stderr.write(removed ? `Removed the credentials for ${p.positional[0]}\n` : `No credentials stored for ${p.positional[0]}\n`);
  return removed ? 0 : 1;
}
