import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { SUBPROTOCOLS } from '../protocol/version.js';
import type { BrokerContext } from './broker-context.js';
import { originCheck } from './origin.js';
import type { TlsIdentity } from './tls.js';

/** The WebSocket subprotocols the broker speaks, in the order it prefers them. */
export const SUPPORTED = [SUBPROTOCOLS.msgpack, SUBPROTOCOLS.json];

export interface WebServer {
  readonly http: Server;
  /** The same server as `http` when the broker has the `tls` option, for reloading its certificate. */
  readonly https: HttpsServer | undefined;
}

/**
 * The broker's one port: HTTP(S) answered by `handler`, and WebSocket upgrades checked (draining,
 * origin, subprotocol) before `accept` gets the socket.
 */
export function createWebServer(
  ctx: BrokerContext,
  identity: TlsIdentity | undefined,
  handler: RequestListener,
  accept: (ws: WebSocket, req: IncomingMessage) => void,
): WebServer {
  const { options: opts, log } = ctx;
  const https: HttpsServer | undefined = identity ? createHttpsServer({ cert: identity.cert, key: identity.key }, handler) : undefined;
  const http: Server = https ?? createServer(handler);
  // A client that does not trust the certificate, or speaks plain HTTP to the TLS port: its own business.
  https?.on('tlsClientError', (err, socket) => {
    log.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
    socket.destroy();
  });
  const originAllowed = originCheck(opts.allowedOrigins);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    // Invalid UTF-8 in a JSON text frame is the codec's to refuse, with DECODE_ERROR on an open
    // connection (protocol.md §1.2); ws would close with 1007 instead. The JSON codec decodes
    // with a fatal TextDecoder; the MessagePack codec refuses text frames altogether.
    skipUTF8Validation: true,
    handleProtocols: (offered) => SUPPORTED.find((p) => offered.has(p)) ?? false,
  });

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Only over a connection opened before the drain began: it stopped listening then.
    if (ctx.draining !== undefined) {
      refuseUpgrade(socket, '503 Service Unavailable', 'the broker is draining before it stops: connect to another broker\n');
      return;
    }
    // Browsers let any page open a WebSocket anywhere and say whose page it is; only the broker can refuse.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin)) {
      const shown = origin.slice(0, ECHO_CHARS);
      log.warn({ origin: shown, remote: req.socket.remoteAddress }, 'upgrade refused: origin not allowed');
      refuseUpgrade(socket, '403 Forbidden', `origin ${shown} is not allowed; the broker's allowedOrigins option lists the web pages that may connect\n`);
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (offered.length > 0 && !offered.some((p) => (SUPPORTED as string[]).includes(p))) {
      // Accepting without a subprotocol would make the client fail with no reason; say it in HTTP.
      refuseUpgrade(socket, '400 Bad Request', `unsupported subprotocol(s) ${offered.join(', ')}; offer ${SUPPORTED.join(' or ')}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req));
  });
  return { http, https };
}

/** Longest part of a client's value repeated in a refusal or a log line. */
const ECHO_CHARS = 200;

/** Answers an upgrade in HTTP instead, so the client (and its user) learns why. */
function refuseUpgrade(socket: Duplex, status: string, body: string): void {
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
