import { CLOSE_CODES, LindenError } from '../protocol/errors.js';
import type { ClientFrame } from '../protocol/frames.js';
import type { Frame } from '../protocol/interceptor.js';
import type { BrokerContext } from './broker-context.js';
import { authorizeFrame } from './auth/authorize.js';
import { EVERYTHING, type Action } from './auth/permissions.js';
import type { Connection } from './connection.js';
import { drainingError } from './drain.js';
import { refusedWhileDraining } from '../protocol/draining.js';
import { NONE, requestIdOf } from './inbox.js';
import * as admin from './handlers/admin.js';
import * as pubsub from './handlers/pubsub.js';
import * as scheduled from './handlers/scheduled.js';
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
  screate: pubsub.screate,
  sdelete: pubsub.sdelete,
  unschedule: scheduled.unschedule,
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

/** Most `err`s the messages of one frame get; the rest of the frame is then skipped (protocol.md §12). */
export const MAX_ERRORS_PER_FRAME = 100;

/** A frame off the socket: into the connection's inbox, handled in the connection's turns (server/turns.ts). */
export function dispatch(ctx: BrokerContext, conn: Connection, raw: Uint8Array, isBinary: boolean): void {
  if (conn.state === 'closed') return;
  conn.inbox.push(raw, isBinary);
  ctx.turns.arrived(conn);
}

/**
 * socket -> decode -> message-level interceptors -> handleMessage, in order, for at most
 * `budget` units of the connection's inbox: one per frame decoded, one per message of it
 * (a fragment included) and one per message a reassembled fragmented message holds.
 * Returns the units used.
 */
export function handleSlice(ctx: BrokerContext, conn: Connection, budget: number): number {
  const inbox = conn.inbox;
  let used = 0;
  // A client that does not read its answers gets no more until they have left (server/turns.ts).
  while (used < budget && conn.state !== 'closed' && !inbox.held && !conn.outputFull) {
    const errors = conn.errorsSent;
    const passed = inbox.takePassed();
    if (passed !== NONE) {
      used++;
      handleMessage(ctx, conn, passed);
      countErrors(conn, errors);
      continue;
    }
    const message = inbox.takeMessage();
    if (message !== NONE) {
      used++;
      const chain = conn.chain;
      // Before hello nothing but hello is taken, fragments included: no reassembly for a stranger.
      if (chain && conn.state === 'open') {
        inbox.inChain = message;
        chain.receive(message);
        inbox.inChain = undefined;
      } else {
        handleMessage(ctx, conn, message);
      }
      countErrors(conn, errors);
      continue;
    }
    const frame = inbox.takeFrame();
    if (!frame) break;
    used++;
    try {
      inbox.begin(conn.codec.decode(frame.raw, frame.isBinary));
    } catch (err) {
      conn.sendError(err);
    }
  }
  return used;
}

/** After MAX_ERRORS_PER_FRAME `err`s for one frame, one more says so and the rest of it is skipped. */
function countErrors(conn: Connection, before: number): void {
  const inbox = conn.inbox;
  inbox.frameErrors += conn.errorsSent - before;
  if (inbox.frameErrors < MAX_ERRORS_PER_FRAME || conn.state === 'closed') return;
  const skipped = inbox.skipFrame();
  if (skipped === 0) return;
  conn.sendError(new LindenError('TOO_MANY_ERRORS',
    `the messages of this frame got ${inbox.frameErrors} errors; its other ${skipped} messages were not handled`, { errors: inbox.frameErrors, skipped }));
}

/** Where the message-level interceptors hand on a whole message. */
export function fromChain(ctx: BrokerContext, conn: Connection, message: unknown): void {
  const inbox = conn.inbox;
  // Passed straight through (the common case): handled now, as part of the message it is.
  if (message === inbox.inChain) {
    inbox.inChain = undefined;
    handleMessage(ctx, conn, message);
    return;
  }
  // A message of its own (a reassembled one): a unit of work, before the rest of the frame.
  inbox.pass(message);
  if (!inbox.running) ctx.turns.arrived(conn);
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
  if (conn.inbound.isEmpty) handle(ctx, conn, frame, re);
  else if (frame.t === 'hello') helloThroughHooks(ctx, conn, frame, re);
  else conn.inbound.run(frame as unknown as Frame, (f) => handle(ctx, conn, f as unknown as ClientFrame, re), (err) => hookFailed(ctx, conn, err, re));
}

/**
 * `hello` passes the inbound hooks like every request. Whatever follows it is judged by its
 * outcome (protocol.md §4), so nothing more of the connection is handled while it is in them.
 */
function helloThroughHooks(ctx: BrokerContext, conn: Connection, frame: ClientFrame, re: number | undefined): void {
  const inbox = conn.inbox;
  inbox.holds++;
  let released = false;
  const done = (): void => {
    if (released) return;
    released = true;
    inbox.holds--;
    if (!inbox.held && !inbox.running) ctx.turns.arrived(conn);
  };
  conn.inbound.run(frame as unknown as Frame, (f) => {
    handle(ctx, conn, f as unknown as ClientFrame, re);
    done();
  }, (err) => {
    hookFailed(ctx, conn, err, re);
    done();
  });
}

function hookFailed(ctx: BrokerContext, conn: Connection, err: unknown, re: number | undefined): void {
  if (!(err instanceof LindenError)) ctx.log.error({ err, conn: conn.id }, 'interceptor failed');
  conn.sendError(err, re);
}

function handle(ctx: BrokerContext, conn: Connection, frame: ClientFrame, re: number | undefined): void {
  if (conn.state === 'closed') return;
  if (ctx.draining !== undefined && refusedWhileDraining(frame)) {
    conn.sendError(drainingError(ctx), re);
    return;
  }
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

