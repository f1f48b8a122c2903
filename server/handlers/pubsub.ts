import type {
  AckFrame, NackFrame, PubFrame, QueueCreateFrame, QueueDeleteFrame, RcvFrame, StreamCreateFrame, StreamDeleteFrame, SubFrame, UnsubFrame, WorkingFrame,
} from '../../protocol/frames.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';
import { audit } from './audit.js';
import { schedulePub } from './scheduled.js';
import * as answers from '../pubsub/delivery-answers.js';

export function sub(ctx: BrokerContext, conn: Connection, f: SubFrame): void {
  answerOk(conn, f.id, ctx.pubsub.subscribe(conn, f));
}

export function working(_ctx: BrokerContext, conn: Connection, f: WorkingFrame): void {
  answers.working(conn, f);
}

export function qcreate(ctx: BrokerContext, conn: Connection, f: QueueCreateFrame): void {
  const { name, pattern, id, t: _t, ...settings } = f;
  // Managing a queue, so it may change the settings of an existing one (there is no authorization yet).
  if (ctx.clusterQueues) answerOk(conn, id, ctx.clusterQueues.declare(name, pattern, settings, true).then(() => undefined));
  else answerOk(conn, id, ctx.durable.declare(name, pattern, settings, true).durable);
}

export function qdelete(ctx: BrokerContext, conn: Connection, f: QueueDeleteFrame): void {
  if (ctx.clusterQueues) {
    const removed = ctx.clusterQueues.remove(f.name);
    const durable = removed.then(() => undefined);
    answerOk(conn, f.id, durable);
    removed.then(({ dropped, detached }) => audit(ctx, conn, 'qdelete', { queue: f.name, dropped, detached }, undefined), () => undefined);
    return;
  }
  const { dropped, detached, durable } = ctx.durable.remove(f.name);
  answerOk(conn, f.id, durable);
  audit(ctx, conn, 'qdelete', { queue: f.name, dropped, detached }, durable);
}

/** Creates a replayable stream or changes its limits (protocol.md §9.11); `ok` once stored. */
export function screate(ctx: BrokerContext, conn: Connection, f: StreamCreateFrame): void {
  const { t: _t, id, ...settings } = f;
  answerOk(conn, id, (ctx.clusterQueues?.streams ?? ctx.durable.streams).create(settings));
}

/** Deletes a stream with its messages and readers; `ok` once all of it is gone from the store. */
export function sdelete(ctx: BrokerContext, conn: Connection, f: StreamDeleteFrame): void {
  const done = (ctx.clusterQueues?.streams ?? ctx.durable.streams).remove(f.name);
  answerOk(conn, f.id, done);
  audit(ctx, conn, 'sdelete', { stream: f.name }, done);
}

/** `ok` once what the request wrote is on disk. */
function answerOk(conn: Connection, re: number, durable: Promise<void> | undefined): void {
  if (!durable) conn.sendFrame({ t: 'ok', re });
  else durable.then(() => conn.sendFrame({ t: 'ok', re }), (err: unknown) => conn.sendError(err, re));
}

export function unsub(ctx: BrokerContext, conn: Connection, f: UnsubFrame): void {
  ctx.pubsub.unsubscribe(conn, f);
  conn.sendFrame({ t: 'ok', re: f.id });
}

export function pub(ctx: BrokerContext, conn: Connection, f: PubFrame): void {
  // The one check a publish without a schedule pays.
  if (f.delay !== undefined || f.deliverAt !== undefined) {
    schedulePub(ctx, conn, f);
    return;
  }
  // A retained publish in cluster mode goes round Redis: what the client sends next waits for it.
  const held = ctx.pubsub.publish(conn, f);
  if (held) ctx.holdInbound(conn, held);
}

export function rcv(_ctx: BrokerContext, conn: Connection, f: RcvFrame): void {
  answers.received(conn, f);
}

export function ack(_ctx: BrokerContext, conn: Connection, f: AckFrame): void {
  answers.acked(conn, f);
}

export function nack(_ctx: BrokerContext, conn: Connection, f: NackFrame): void {
  answers.nacked(conn, f);
}
