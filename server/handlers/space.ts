import type {
  AbortFrame, BatchFrame, CancelFrame, CountFrame, NotifyFrame, OutFrame, ReadFrame, RenewFrame, SettleFrame, UnnotifyFrame,
} from '../../protocol/frames.js';
import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';
import { scheduleOut } from './scheduled.js';

export const out = (ctx: BrokerContext, conn: Connection, f: OutFrame) =>
  f.delay !== undefined || f.deliverAt !== undefined ? scheduleOut(ctx, conn, f) : ctx.spaces.out(conn, f);
export const read = (ctx: BrokerContext, conn: Connection, f: ReadFrame) => ctx.spaces.read(conn, f);
export const count = (ctx: BrokerContext, conn: Connection, f: CountFrame) => ctx.spaces.count(conn, f);
export const abort = (ctx: BrokerContext, conn: Connection, f: AbortFrame) => ctx.spaces.abort(conn, f);
export const notify = (ctx: BrokerContext, conn: Connection, f: NotifyFrame) => ctx.spaces.notify(conn, f);
export const unnotify = (ctx: BrokerContext, conn: Connection, f: UnnotifyFrame) => ctx.spaces.unnotify(conn, f);
export const renew = (ctx: BrokerContext, conn: Connection, f: RenewFrame) => ctx.spaces.renew(conn, f);
export const cancel = (ctx: BrokerContext, conn: Connection, f: CancelFrame) => ctx.spaces.cancel(conn, f);
export const batch = (ctx: BrokerContext, conn: Connection, f: BatchFrame) => ctx.spaces.batch(conn, f);
export const settle = (ctx: BrokerContext, conn: Connection, f: SettleFrame) => ctx.spaces.settle(conn, f);
