import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import type { Frame } from '../protocol/interceptor.js';
import type { BrokerContext } from './broker-context.js';
import { authorizeFrame } from './auth/authorize.js';
import { EVERYTHING, type Action } from './auth/permissions.js';
import type { Connection } from './connection.js';
import * as admin from './handlers/admin.js';
import * as pubsub from './handlers/pubsub.js';
import * as session from './handlers/session.js';
import * as space from './handlers/space.js';

type Handler<F> = (ctx: BrokerContext, conn: Connection, frame: F) => void;
type Handlers = { [T in ClientFrame['t']]: Handler<Extract<ClientFrame, { t: T }>> };

const HANDLERS: Handlers = {
  frag: session.frag,
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
  // Admin operations (protocol.md §17).
  admin: admin.admin,
};

/** socket -> decode -> message-level interceptors -> handleMessage, for every message of one frame, in order. */
export function dispatch(ctx: BrokerContext, conn: Connection, raw: Uint8Array, isBinary: boolean): void {
  let messages: unknown[];
  try {
    messages = conn.codec.decode(raw, isBinary);
  } catch (err) {
    conn.sendError(err);
    return;
  }
  for (const message of messages) {
    if (conn.state === 'closed') return;
    receive(ctx, conn, message);
  }
}

/** One decoded message, in order: kept while the connection is held, else on its way to its handler. */
export function receive(ctx: BrokerContext, conn: Connection, message: unknown): void {
  if (conn.held) {
    conn.held.push(message);
    return;
  }
  // Before hello nothing but hello is taken, fragments included: no reassembly for a stranger.
  if (conn.chain && conn.state === 'open') conn.chain.receive(message);
  else handleMessage(ctx, conn, message);
}

/** validate -> request-level interceptors -> handler, for one whole message (a fragmented one counts once). */
export function handleMessage(ctx: BrokerContext, conn: Connection, message: unknown): void {
  if (conn.state === 'closed') return;
  conn.stats.messagesIn++;
  const re = requestIdOf(message);
  if (conn.state === 'handshake' && (message as { t?: unknown } | null)?.t !== 'hello') {
    conn.sendError(new LindenError('HANDSHAKE_REQUIRED'), re);
    ctx.closeConnection(conn, CLOSE_CODES.HANDSHAKE_REQUIRED.code, 'the first message must be hello');
    return;
  }
  let frame: ClientFrame;
  try {
    frame = ctx.validators[conn.codec.name].check(message);
  } catch (err) {
    conn.sendError(err, re);
    return;
  }
  if (conn.permissions !== EVERYTHING) {
    try {
      authorizeFrame(conn.permissions, frame);
    } catch (err) {
      denied(ctx, conn, err as LindenError, re);
      return;
    }
  }
  if (conn.inbound.isEmpty || frame.t === 'hello') handle(ctx, conn, frame, re);
  else conn.inbound.run(frame as unknown as Frame, (f) => handle(ctx, conn, f as unknown as ClientFrame, re), (err) => {
    if (!(err instanceof LindenError)) ctx.log.error({ err, conn: conn.id }, 'interceptor failed');
    conn.sendError(err, re);
  });
}

function handle(ctx: BrokerContext, conn: Connection, frame: ClientFrame, re: number | undefined): void {
  if (conn.state === 'closed') return;
  try {
    (HANDLERS[frame.t] as Handler<ClientFrame>)(ctx, conn, frame);
  } catch (err) {
    if (!(err instanceof LindenError)) ctx.log.error({ err, conn: conn.id }, 'handler failed');
    conn.sendError(err, re);
  }
}

/** A request the user may not make: answered, counted and logged; the connection stays open. */
function denied(ctx: BrokerContext, conn: Connection, err: LindenError, re: number | undefined): void {
  const { action, subject } = err.details as { action: Action; subject: string };
  ctx.auth.denied(action);
  ctx.log.info({ conn: conn.id, user: conn.user, action, subject: subject.slice(0, 128) }, 'permission denied');
  conn.sendError(err, re);
}

/** The id a reply should name, even when the message around it is invalid. */
function requestIdOf(message: unknown): number | undefined {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}
