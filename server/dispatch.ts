import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import type { BrokerContext } from './broker-context.js';
import type { Connection } from './connection.js';
import * as pubsub from './handlers/pubsub.js';
import * as session from './handlers/session.js';
import * as space from './handlers/space.js';

type Handler<F> = (ctx: BrokerContext, conn: Connection, frame: F) => void;
type Handlers = { [T in ClientFrame['t']]: Handler<Extract<ClientFrame, { t: T }>> };

const HANDLERS: Handlers = {
  hello: session.hello,
  ping: session.ping,
  pong: session.pong,
  sub: pubsub.sub,
  unsub: pubsub.unsub,
  pub: pubsub.pub,
  rcv: pubsub.rcv,
  ack: pubsub.ack,
  nack: pubsub.nack,
  working: pubsub.working,
  qcreate: pubsub.qcreate,
  qdelete: pubsub.qdelete,
  out: space.out,
  in: space.read,
  rd: space.read,
  count: space.count,
  abort: space.abort,
  notify: space.notify,
  unnotify: space.unnotify,
  renew: space.renew,
  cancel: space.cancel,
  batch: space.batch,
  settle: space.settle,
};

/** socket -> decode -> validate -> handler, for every message of one frame, in order. */
export function dispatch(ctx: BrokerContext, conn: Connection, raw: Uint8Array, isBinary: boolean): void {
  let messages: unknown[];
  try {
    messages = conn.codec.decode(raw, isBinary);
  } catch (err) {
    conn.sendError(err);
    return;
  }
  conn.stats.messagesIn += messages.length;
  const validator = ctx.validators[conn.codec.name];
  for (const message of messages) {
    if (conn.state === 'closed') return;
    const re = requestIdOf(message);
    if (conn.state === 'handshake' && (message as { t?: unknown } | null)?.t !== 'hello') {
      conn.sendError(new LindenError('HANDSHAKE_REQUIRED'), re);
      ctx.closeConnection(conn, CLOSE_CODES.HANDSHAKE_REQUIRED.code, 'the first message must be hello');
      return;
    }
    try {
      const frame = validator.check(message);
      (HANDLERS[frame.t] as Handler<ClientFrame>)(ctx, conn, frame);
    } catch (err) {
      if (!(err instanceof LindenError)) ctx.log.error({ err, conn: conn.id }, 'handler failed');
      conn.sendError(err, re);
    }
  }
}

/** The id a reply should name, even when the message around it is invalid. */
function requestIdOf(message: unknown): number | undefined {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}
