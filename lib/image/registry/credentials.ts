/**
 * Registry credentials from the files people already have, in containers/image's order:
 * $REGISTRY_AUTH_FILE, layerfs's own file (written by `layerfs login`),
 * $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json
 * (its `auths`, and its `credHelpers`/`credsStore` through docker-credential-HELPER). A key may name
 * a host or a host/repository prefix; the longest match wins. Secrets are never printed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOCKER_HUB } from './reference';
import { RegistryError } from './errors';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** layerfs's own auth file: $LAYERFS_AUTH_FILE, else ~/.config/layerfs/auth.json */
export function layerfsAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAYERFS_AUTH_FILE) return env.LAYERFS_AUTH_FILE;
  const config = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(config, 'layerfs', 'auth.json');
}

/** The files searched, in order (those that do not exist are skipped when read). */
export function authFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || os.homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(layerfsAuthFile(env));
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'auth.json'));
  files.push(path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'));
  return files;
}

/** The keys a Docker Hub entry may be stored under. */
const HUB_KEYS = [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/', 'https://index.docker.io/v1'];

function normalizeKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (k === 'index.docker.io/v1' || k === 'index.docker.io' || k === 'registry-1.docker.io') k = DOCKER_HUB;
  return k;
}

function readAuthFile(file: string): AuthFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new RegistryError('EINVAL', `cannot read the auth file ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch {
    throw new RegistryError('EINVAL', `the auth file ${file} is not valid JSON`);
  }
}

function decodeEntry(entry: { auth?: string; username?: string; password?: string }, file: string, key: string): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  if (colon < 0) throw new RegistryError('EINVAL', `the auth file ${file} has a malformed "auth" for ${key}`);
  return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
}

function fromHelper(helper: string, registry: string): Credentials | undefined {
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  const r = spawnSync(`docker-credential-${helper}`, ['get'], { input: server, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return undefined;
  try {
    const j = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (j.Username !== undefined && j.Secret !== undefined) return { username: j.Username, password: j.Secret };
  } catch {
    /* a helper that answers something else has nothing for us */
  }
  return undefined;
}

/**
 * Credentials for a repository of a registry, or undefined (anonymous). `authFile` given: only
 * that file is read (the CLI's --authfile).
 */
export function findCredentials(registry: string, repository: string, opts: { authFile?: string; env?: NodeJS.ProcessEnv } = {}): Credentials | undefined {
  const files = opts.authFile !== undefined ? [opts.authFile] : authFiles(opts.env);
  const wanted = `${registry}/${repository}`;
  for (const file of files) {
    const data = readAuthFile(file);
    if (!data) continue;
    let best: { key: string; creds: Credentials } | undefined;
    for (const [rawKey, entry] of Object.entries(data.auths ?? {})) {
      const key = normalizeKey(rawKey);
      if (key !== registry && !wanted.startsWith(`${key}/`) && key !== wanted) continue;
      const creds = decodeEntry(entry ?? {}, file, rawKey);
      if (creds && (!best || key.length > best.key.length)) best = { key, creds };
    }
    if (best) return best.creds;
    const helper = Object.entries(data.credHelpers ?? {}).find(([k]) => normalizeKey(k) === registry)?.[1] ?? data.credsStore;
    if (helper) {
      const creds = fromHelper(helper, registry);
      if (creds) return creds;
    }
  }
  return undefined;
}

function writeAtomic0600(file: string, data: AuthFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Stores credentials for a registry in layerfs's auth file (mode 0600). */
export function saveCredentials(registry: string, creds: Credentials, opts: { authFile?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const file = opts.authFile ?? layerfsAuthFile(opts.env);
  const data = readAuthFile(file) ?? {};
  data.auths = data.auths ?? {};
  for (const k of Object.keys(data.auths)) if (normalizeKey(k) === registry) delete data.auths[k];
  data.auths[registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  writeAtomic0600(file, data);
  return file;
}

/** Removes a registry's credentials from layerfs's auth file; false when there were none. */
export function removeCredentials(registry: string, opts: { authFile?: string; env?: NodeJS.ProcessEnv } = {}): boolean {
  const file = opts.authFile ?? layerfsAuthFile(opts.env);
  const data = readAuthFile(file);
  if (!data?.auths) return false;
  let found = false;
  for (const k of Object.keys(data.auths)) {
    if (normalizeKey(k) === registry) {
      delete data.auths[k];
      found = true;
    }
  }
  if (found) writeAtomic0600(file, data);
  return found;
}

export { HUB_KEYS };
