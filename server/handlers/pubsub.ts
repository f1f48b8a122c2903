import type { AckFrame, NackFrame, PubFrame, RcvFrame, SubFrame, UnsubFrame } from '../../protocol/frames.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';

export function sub(ctx: BrokerContext, conn: Connection, f: SubFrame): void {
  ctx.pubsub.subscribe(conn, f);
  conn.sendFrame({ t: 'ok', re: f.id });
}

export function unsub(ctx: BrokerContext, conn: Connection, f: UnsubFrame): void {
  ctx.pubsub.unsubscribe(conn, f);
  conn.sendFrame({ t: 'ok', re: f.id });
}

export function pub(ctx: BrokerContext, conn: Connection, f: PubFrame): void {
  ctx.pubsub.publish(conn, f);
}

export function rcv(ctx: BrokerContext, conn: Connection, f: RcvFrame): void {
  ctx.pubsub.received(conn, f);
}

export function ack(ctx: BrokerContext, conn: Connection, f: AckFrame): void {
  ctx.pubsub.ack(conn, f);
}

export function nack(ctx: BrokerContext, conn: Connection, f: NackFrame): void {
  ctx.pubsub.nack(conn, f);
}
