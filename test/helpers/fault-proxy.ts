/**
 * An HTTP proxy the tests put between layerfs and the registry (layerfs talks to the proxy as if it
 * were the registry). It counts the blob bytes it serves and injects faults chosen per request:
 * an answer of 500 or 429 (with Retry-After), a connection cut after N bytes of a body, one byte
 * flipped in a body.
 */
import * as http from 'node:http';
import * as net from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number }
  | { kind: 'cut'; after: number }
  | { kind: 'corrupt'; at: number };

export interface ProxyRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface FaultProxy {
  host: string;
  /** bytes of blob bodies sent to clients (GET /v2/.../blobs/...) */
  blobBytes: number;
  /** every request seen: method path [range] -> status */
  log: string[];
  /** decides a fault for a request (or none) */
  rule?: (req: ProxyRequest) => Fault | undefined;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [thost, tport] = target.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const state: FaultProxy = { host: '', blobBytes: 0, log: [], close: async () => undefined };
  const srv = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const preq: ProxyRequest = { method: req.method ?? 'GET', path, headers: req.headers };
    const fault = state.rule?.(preq);
    const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(path);
    if (fault?.kind === 'status') {
      req.resume();
      state.log.push(`${req.method} ${path} -> ${fault.status} (injected)`);
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {}) });
      res.end('{"errors":[{"code":"UNKNOWN","message":"injected"}]}');
      return;
    }
    const headers = { ...req.headers, host: target };
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path, headers }, (ures) => {
      state.log.push(`${req.method} ${path}${req.headers.range ? ` [${req.headers.range}]` : ''} -> ${ures.statusCode}`);
      const h = { ...ures.headers };
      // Location headers name the registry: point them back at the proxy
      if (typeof h.location === 'string') h.location = h.location.replace(`//${target}`, `//${state.host}`);
      res.writeHead(ures.statusCode ?? 502, h);
      let sent = 0;
      ures.on('data', (chunk: Buffer) => {
        let c = chunk;
        if (fault?.kind === 'corrupt' && fault.at >= sent && fault.at < sent + c.length) {
          c = Buffer.from(c);
          c[fault.at - sent] ^= 0xff;
        }
        if (fault?.kind === 'cut' && sent + c.length > fault.after) {
          const part = c.subarray(0, Math.max(0, fault.after - sent));
          if (isBlob) state.blobBytes += part.length;
          res.write(part, () => res.socket?.destroy());
          ures.destroy();
          return;
        }
        sent += c.length;
        if (isBlob) state.blobBytes += c.length;
        res.write(c);
      });
      ures.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  state.host = `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
  state.close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return state;
}
