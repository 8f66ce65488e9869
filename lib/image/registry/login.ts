/**
 * `layerfs login HOST`: checks the credentials against the registry (a token for the registry's
 * catalog scope, or /v2/ with Basic) before storing them in layerfs's auth file (0600).
 */
import { RegistryClient, ClientOptions } from './client';
import { Credentials, removeCredentials, saveCredentials } from './credentials';
import { RegistryError } from './errors';
import { drain } from './http';
import { DOCKER_HUB } from './reference';

function normalizeHost(host: string): string {
  const h = host.replace(/^https?:\/\//, '').replace(/^docker:\/\//, '').replace(/\/.*$/, '');
  if (h === '' || /\s/.test(h)) throw new RegistryError('EINVAL', `invalid registry "${host}"`);
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? DOCKER_HUB : h;
}

/** Verifies and stores credentials; resolves with the file written. */
export async function login(host: string, creds: Credentials, opts: ClientOptions & { authFile?: string } = {}): Promise<string> {
  const registry = normalizeHost(host);
  if (!creds.username) throw new RegistryError('EINVAL', 'login: a username is required');
  const client = new RegistryClient(registry, '', { ...opts, credentials: creds });
  try {
    await client.endpoint();
    if (client.auth.challenge) {
      // a token for no particular repository proves the credentials with a bearer realm; Basic is checked on /v2/
      const res = await client.request({ method: 'GET', path: '/v2/', scopes: [], ok: [200], what: 'the registry API' });
      drain(res);
    }
  } catch (err) {
    if ((err as RegistryError).code === 'UNAUTHORIZED') {
      throw new RegistryError('UNAUTHORIZED', `unauthorized: ${registry} refused the credentials of ${creds.username}`);
    }
    throw err;
  } finally {
    client.close();
  }
  return saveCredentials(registry, creds, opts.authFile !== undefined ? { authFile: opts.authFile } : {});
}

export function logout(host: string, opts: { authFile?: string } = {}): boolean {
  return removeCredentials(normalizeHost(host), opts);
}
