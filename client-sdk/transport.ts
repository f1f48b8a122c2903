import { Parts } from '../protocol/codec.js';
import type { TlsOptions } from './options.js';

/**
 * The smallest socket surface the client needs, over the browser's WebSocket or, in Node
 * without a global one, the `ws` package (loaded lazily so browser bundles never pull it in).
 */
export interface Socket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

export interface SocketEvents {
  open(): void;
  message(data: Uint8Array | string, isBinary: boolean): void;
  close(code: number, reason: string): void;
  error(err: Error): void;
}

type BrowserWebSocket = {
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
};

/**
 * Opens a WebSocket. `tls` applies in Node only: Node's own global WebSocket (Node 22+) takes
 * no CA, so with `tls` given Node uses `ws`; browsers do TLS themselves.
 */
export async function openSocket(url: string, protocols: string[], on: SocketEvents, tls?: TlsOptions): Promise<Socket> {
  const Native = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => BrowserWebSocket }).WebSocket;
  if (Native && !(tls && runsInNode())) {
    const ws = new Native(url, protocols);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => on.open();
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') on.message(ev.data, false);
      else on.message(new Uint8Array(ev.data as ArrayBuffer), true);
    };
    ws.onclose = (ev) => on.close(ev.code, ev.reason);
    ws.onerror = () => on.error(new Error(`WebSocket error on ${url}`));
    return ws;
  }
  const moduleName = 'ws';
  const { WebSocket: NodeWebSocket } = (await import(moduleName)) as typeof import('ws');
  // Certificates are verified: nothing here may set rejectUnauthorized, whatever the options say.
  const ca = tls?.ca === undefined ? {} : { ca: nodeCa(tls.ca) };
  const ws = new NodeWebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...ca });
  SENDS_FRAMES.add(ws);
  ws.on('open', () => on.open());
  ws.on('message', (data: Buffer, isBinary: boolean) => on.message(isBinary ? data : data.toString('utf8'), isBinary));
  ws.on('close', (code: number, reason: Buffer) => on.close(code, reason.toString()));
  ws.on('error', (err: Error) => on.error(explainSocketError(err)));
  ws.on('unexpected-response', (_req, res) => {
    let body = '';
    res.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    res.on('end', () => {
      on.error(new Error(`broker refused the upgrade (HTTP ${res.statusCode}): ${body.trim()}`));
      on.close(1006, body.trim());
    });
  });
  return ws;
}

/** Sockets that can send one message as several WebSocket frames (`ws`; a browser's WebSocket cannot). */
const SENDS_FRAMES = new WeakSet<object>();

/**
 * Sends an encoded message. Parts (a large payload behind its fields, a fragment) leave as one
 * message in several frames where the socket can, each masked from where it lies: joining them
 * first copied every byte of a large publish once more (issue 14).
 */
export function sendPiece(socket: Socket, piece: Uint8Array | string | Parts): void {
  if (!(piece instanceof Parts)) socket.send(piece);
  else if (!SENDS_FRAMES.has(socket)) socket.send(piece.join());
  else {
    const ws = socket as unknown as { send(data: Uint8Array, options: { binary: boolean; fin: boolean }): void };
    const last = piece.parts.length - 1;
    for (let i = 0; i <= last; i++) ws.send(piece.parts[i]!, { binary: true, fin: i === last });
  }
}

function runsInNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** Node's TLS takes strings and Buffers; a plain Uint8Array becomes a Buffer over the same bytes. */
function nodeCa(ca: NonNullable<TlsOptions['ca']>): Array<string | Buffer> {
  const list: ReadonlyArray<string | Uint8Array> = typeof ca === 'string' || ca instanceof Uint8Array ? [ca] : ca;
  return list.map((c) => (typeof c === 'string' || Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}

/**
 * A refused certificate as a sentence that says so (Node's own message, "self-signed certificate
 * in certificate chain", does not say whose); other socket errors unchanged.
 */
export function explainSocketError(err: Error & { code?: string }): Error {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new Error(`the broker's TLS certificate is not valid for this host: ${err.message}`);
  if (/CERT|SIGNATURE|ISSUER/.test(code)) return new Error(`${UNTRUSTED_CERTIFICATE}: ${err.message} (${code})`);
  return err;
}

/** How every refused certificate chain is described, so a caller (the CLI) can add its own advice. */
export const UNTRUSTED_CERTIFICATE = 'the broker\'s TLS certificate is not trusted';

/** Outbound bytes under which a paced sender (fragments) goes on without waiting. */
const DRAINED_BYTES = 256 * 1024;

/**
 * Calls `fn` once the socket has (mostly) sent what it buffered: on the `ws` package's TCP
 * socket its 'drain' event; browsers have none, so their bufferedAmount is polled.
 */
export function whenDrained(socket: Socket, fn: () => void): void {
  if (socket.bufferedAmount < DRAINED_BYTES) {
    // Not setTimeout(fn, 0): that waits a millisecond at least, once per fragment sent.
    soon(fn);
    return;
  }
  const tcp = (socket as { _socket?: { once(event: 'drain', fn: () => void): void } })._socket;
  if (tcp) tcp.once('drain', fn);
  else setTimeout(() => whenDrained(socket, fn), 2);
}

/** Runs `fn` after the I/O of this turn: setImmediate where there is one (Node), a timer in browsers. */
const soon: (fn: () => void) => void = typeof setImmediate === 'function' ? (fn) => { setImmediate(fn); } : (fn) => { setTimeout(fn, 0); };
