import { CLOSE_CODES, LindenError } from '../../protocol/errors.js';
import type { HelloFrame, PingFrame, WelcomeFrame } from '../../protocol/frames.js';
import { announcements } from '../../protocol/interceptor.js';
import { MAX_TOPIC_LENGTH } from '../../protocol/topics.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';
import { tellDraining } from '../drain.js';

export function hello(ctx: BrokerContext, conn: Connection, f: HelloFrame): void {
  if (conn.state !== 'handshake') throw new LindenError('INVALID_FRAME', '"hello" was already received on this connection');
  if (f.v !== PROTOCOL_VERSION) {
    conn.sendError(new LindenError('UNSUPPORTED_VERSION', `protocol version ${f.v} is not supported; this broker speaks ${PROTOCOL_VERSION}`, {
      supported: [PROTOCOL_VERSION],
    }), f.id);
    ctx.closeConnection(conn, CLOSE_CODES.UNSUPPORTED_VERSION.code, `unsupported protocol version ${f.v}`);
    return;
  }
  if (!ctx.auth.enabled) return welcome(ctx, conn, f);
  // Nothing more of this connection is handled until it is known who it is (protocol.md §4.7).
  ctx.holdInbound(conn, ctx.auth.authenticate(f.auth).then((principal) => {
    if (conn.state !== 'handshake') return;
    conn.user = principal.user;
    conn.permissions = principal.permissions;
    welcome(ctx, conn, f);
  }, (err: unknown) => {
    if (conn.state !== 'handshake') return;
    ctx.log.info({ conn: conn.id, address: conn.remoteAddress, user: f.auth && 'user' in f.auth ? f.auth.user.slice(0, 64) : undefined }, 'login failed');
    conn.sendError(err, f.id);
    ctx.closeConnection(conn, CLOSE_CODES.AUTH_FAILED.code, 'authentication failed');
  }));
}

function welcome(ctx: BrokerContext, conn: Connection, f: HelloFrame): void {
  conn.negotiated(f.ext); // first: a will's payload is held to the maxMessageBytes it sets
  if (f.will) {
    try {
      ctx.wills.check(conn, f.will);
    } catch (err) {
      // As for a hello that fails validation, the connection stays in the handshake (§4.4).
      if ((err as LindenError).code === 'PERMISSION_DENIED') {
        ctx.auth.denied('publish');
        ctx.log.info({ conn: conn.id, user: conn.user, action: 'publish', subject: f.will.topic.slice(0, 128) }, 'permission denied: will');
      }
      conn.sendError(err, f.id);
      return;
    }
  }
  conn.state = 'open';
  ctx.handshakeDone(conn);
  conn.name = f.name;
  ctx.wills.arrived(conn, f.session, f.will);
  const { options: o } = ctx;
  const welcome: WelcomeFrame = {
    t: 'welcome', re: f.id, v: PROTOCOL_VERSION, connectionId: conn.id,
    server: { name: 'linden', version: ctx.version },
    limits: {
      maxFrameBytes: o.maxFrameBytes, maxMessageBytes: conn.maxMessageBytes, maxSubscriptions: o.maxSubscriptions,
      maxPendingBytes: o.maxPendingBytes, maxTopicLength: MAX_TOPIC_LENGTH, maxTimeoutMs: o.maxTimeoutMs,
    },
    heartbeatMs: o.heartbeatMs,
  };
  const ext = announcements(o.interceptors, { maxFrameBytes: o.maxFrameBytes });
  if (ext) welcome.ext = ext;
  conn.sendFrame(welcome);
  tellDraining(ctx, conn); // a connection that said hello after the drain began
  ctx.log.debug({ conn: conn.id, client: f.name, user: conn.user, codec: conn.codec.name }, 'client connected'); // `name` is the root logger's key
}

export function ping(_ctx: BrokerContext, conn: Connection, f: PingFrame): void {
  conn.sendFrame({ t: 'pong', re: f.id });
}

/** Reached only without the fragmentation interceptor, which absorbs `frag` messages before validation. */
export function frag(): void {
  throw new LindenError('UNKNOWN_FRAME_TYPE', 'this broker does not reassemble fragments: it runs without the fragmentation interceptor', { t: 'frag' });
}

/** Answer to a broker ping; receiving anything already marks the peer alive. */
export function pong(): void {}
