import { CLOSE_CODES, LindenError } from '../../protocol/errors.js';
import type { HelloFrame, PingFrame, WelcomeFrame } from '../../protocol/frames.js';
import { MAX_TOPIC_LENGTH } from '../../protocol/topics.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';

export function hello(ctx: BrokerContext, conn: Connection, f: HelloFrame): void {
  if (conn.state !== 'handshake') throw new LindenError('INVALID_FRAME', '"hello" was already received on this connection');
  if (f.v !== PROTOCOL_VERSION) {
    conn.sendError(new LindenError('UNSUPPORTED_VERSION', `protocol version ${f.v} is not supported; this broker speaks ${PROTOCOL_VERSION}`, {
      supported: [PROTOCOL_VERSION],
    }), f.id);
    ctx.closeConnection(conn, CLOSE_CODES.UNSUPPORTED_VERSION.code, `unsupported protocol version ${f.v}`);
    return;
  }
  conn.state = 'open';
  conn.name = f.name;
  const { options: o } = ctx;
  const welcome: WelcomeFrame = {
    t: 'welcome', re: f.id, v: PROTOCOL_VERSION, connectionId: conn.id,
    server: { name: 'linden', version: ctx.version },
    limits: {
      maxFrameBytes: o.maxFrameBytes, maxMessageBytes: o.maxMessageBytes, maxSubscriptions: o.maxSubscriptions,
      maxPendingBytes: o.maxPendingBytes, maxTopicLength: MAX_TOPIC_LENGTH, maxTimeoutMs: o.maxTimeoutMs,
    },
    heartbeatMs: o.heartbeatMs,
  };
  conn.sendFrame(welcome);
  ctx.log.debug({ conn: conn.id, name: f.name, codec: conn.codec.name }, 'client connected');
}

export function ping(_ctx: BrokerContext, conn: Connection, f: PingFrame): void {
  conn.sendFrame({ t: 'pong', re: f.id });
}

/** Answer to a broker ping; receiving anything already marks the peer alive. */
export function pong(): void {}
