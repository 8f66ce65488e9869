/**
 * Registry errors: a named code and one line for the user. The codes follow the distribution
 * spec's error codes where one exists (NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN, UNAUTHORIZED,
 * DENIED, TOOMANYREQUESTS) plus the transport's own (UNREACHABLE, TLS, DIGEST_MISMATCH, ...).
 */
export type RegistryErrorCode =
  | 'EINVAL'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NAME_UNKNOWN'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'PLATFORM_UNKNOWN'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'TLS'
  | 'UNREACHABLE'
  | 'TRUNCATED'
  | 'REGISTRY'
  | 'ABORTED';

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  /** the HTTP status when the error is an answer from the registry */
  readonly status?: number;
  /** worth retrying (5xx, 429, reset connections, truncated bodies) */
  readonly retryable: boolean;
  /** seconds the registry asked us to wait (Retry-After) */
  readonly retryAfter?: number;

  constructor(code: RegistryErrorCode, message: string, opts: { status?: number; retryable?: boolean; retryAfter?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'RegistryError';
    this.code = code;
    if (opts.status !== undefined) this.status = opts.status;
    this.retryable = opts.retryable ?? false;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'ESOCKETTIMEDOUT']);

/** Maps a socket-level error to a RegistryError with a message naming the host. */
export function networkError(err: unknown, host: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') return new RegistryError('ABORTED', 'aborted', { cause: err });
  if (TLS_CODES.has(code) || /certificate|SSL|TLS/i.test(e?.message ?? '')) {
    return new RegistryError('TLS', `TLS failure talking to ${host}: ${e.message}`, { cause: err });
  }
  if (UNREACHABLE_CODES.has(code)) {
    return new RegistryError('UNREACHABLE', `registry ${host} unreachable: ${code}`, { cause: err, retryable: code === 'ETIMEDOUT' || code === 'EAI_AGAIN' });
  }
  if (RESET_CODES.has(code) || e?.message === 'aborted' || e?.message === 'socket hang up') {
    return new RegistryError('TRUNCATED', `connection to ${host} cut (${code || e.message})`, { cause: err, retryable: true });
  }
  return new RegistryError('REGISTRY', `${host}: ${e?.message ?? String(err)}`, { cause: err });
}
