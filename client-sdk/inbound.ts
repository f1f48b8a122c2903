import type { Codec } from '../protocol/codec.js';
import { CLOSE_CODES, LindenError, isErrorCode } from '../protocol/errors.js';
import type { BrokerFrame, ErrFrame, MsgFrame, WelcomeFrame } from '../protocol/frames.js';
import type { MessageChain } from '../protocol/message-chain.js';
import type { ConnectionState } from './connection-state.js';
import type { Heartbeat } from './heartbeat.js';
import { AckedDeliveries } from './acked-deliveries.js';
import { Message, type MessageOwner } from './message.js';
import type { Outbound } from './outbound.js';
import type { PendingCalls } from './pending-calls.js';
import type { ClientPipeline } from './pipeline.js';
import type { StatusFeed } from './status.js';
import type { ClientSpaces } from './spaces.js';
import type { ClientSubscriptions } from './subscriptions.js';

/** What the inbound side asks of the part that owns the socket's lifecycle. */
export interface ConnectionControl {
  readonly url: string;
  welcomed(frame: WelcomeFrame, epoch: number): void;
  /** Fails the handshake under way, if one is; false when none is. */
  refuseHandshake(err: LindenError): boolean;
  abandon(code: number, reason: string): void;
}

/** The parts of the client that broker frames are routed to. */
export interface InboundTargets {
  owner: MessageOwner;
  subs: ClientSubscriptions;
  spaces: ClientSpaces;
  pending: PendingCalls;
  outbound: Outbound;
  heartbeat: Heartbeat;
  feed: StatusFeed;
  control: ConnectionControl;
}

/**
 * Everything the broker sends, from socket frame to its recipient: deliveries to subscriptions,
 * answers to pending calls, errors, space events and the broker's drain, which this side also
 * follows until the client may leave the draining broker.
 */
export class InboundRouter {
  private readonly acked = new AckedDeliveries();

  constructor(
    private readonly conn: ConnectionState,
    private readonly codec: Codec,
    private readonly pipeline: ClientPipeline,
    private readonly to: InboundTargets,
  ) {}

  /** A frame from socket `epoch`, decoded, through the message-level interceptors when any. */
  onFrame(data: Uint8Array | string, isBinary: boolean, epoch: number, chain: MessageChain | undefined): void {
    if (epoch !== this.conn.epoch) return; // a socket given up on
    let messages: unknown[];
    try {
      messages = this.codec.decode(data, isBinary);
    } catch (err) {
      this.to.feed.emit({ type: 'error', error: err as LindenError });
      return;
    }
    this.to.heartbeat.seen();
    for (const m of messages) {
      if (chain) chain.receive(m);
      else this.onInbound(m, epoch);
    }
  }

  /** A whole message from the socket, through the inbound request-level interceptors. */
  onInbound(message: unknown, epoch: number): void {
    const hooks = this.pipeline.inbound;
    if (hooks.isEmpty || (message as { t?: unknown }).t === 'welcome') this.route(message as BrokerFrame, epoch);
    else hooks.run(message as BrokerFrame, (f) => this.route(f, epoch), (error) => {
      this.to.feed.emit({ type: 'error', error: error as LindenError });
      // A refused delivery is nacked, so its publisher or queue learns now rather than at a timeout.
      const tag = (message as MsgFrame).t === 'msg' ? (message as MsgFrame).tag : undefined;
      const nack = { t: 'nack' as const, tag: tag!, reason: String((error as Error).message).slice(0, 1024) };
      // Never counted as awaiting an ack (it did not reach the application), so not through settle().
      if (tag !== undefined && epoch === this.conn.live) this.to.outbound.enqueue(nack, false);
    });
  }

  /** The application settled `delivery`, of connection `epoch` (MessageOwner.settle). */
  settle(delivery: MsgFrame, epoch: number, frame: { t: 'ack' | 'nack' | 'working'; tag: number }): void {
    // Durable: processed, so a redelivery of it (its ack lost or late) is a duplicate.
    if (frame.t === 'ack' && delivery.dc !== undefined) this.acked.remember(delivery.sid, delivery.mid);
    if (epoch !== this.conn.live) return; // the broker already counted that connection's deliveries as lost
    if (frame.t === 'working') {
      this.to.outbound.enqueue(frame, false);
      return;
    }
    this.conn.unsettled--;
    this.to.outbound.enqueue(frame, false, undefined, () => this.leaveWhenDone());
  }

  private route(frame: BrokerFrame, epoch: number): void {
    // The rest of a frame whose socket was given up on meanwhile (the client left a draining broker).
    if (epoch !== this.conn.epoch) return;
    if (frame.t === 'msg') this.onMessage(frame, epoch);
    else if (frame.t === 'welcome') this.to.control.welcomed(frame, epoch);
    else if (frame.t === 'err') this.onError(frame);
    else if (frame.t === 'event') this.to.spaces.event(frame);
    else if (frame.t === 'warn') this.to.feed.emit({ type: 'slow-consumer', dropped: frame.dropped ?? 0, where: 'broker' });
    else if (frame.t === 'drain') this.onDrain(frame.ms, epoch);
    else if ('re' in frame) {
      this.to.pending.settle(frame.re)?.resolve(frame);
      this.leaveWhenDone();
    }
  }

  private onMessage(frame: MsgFrame, epoch: number): void {
    if (frame.tag !== undefined && this.acked.isDuplicate(frame.sid, frame.mid, frame.dc)) {
      // Already processed and acked by the application: acked again here, never handed over twice.
      this.to.outbound.enqueue({ t: 'ack', tag: frame.tag }, false);
      return;
    }
    if (frame.tag !== undefined) {
      this.to.outbound.received(frame.tag);
      if (frame.ack === 'processing') this.conn.unsettled++;
    }
    this.to.subs.deliver(frame.sid, new Message(frame, this.to.owner, epoch));
  }

  /**
   * The broker drains (protocol.md §1.6): publishes and writes wait for the next broker from now
   * on; once the answers awaited here have come and every delivery waiting for an ack has it,
   * the client leaves for the next URL.
   */
  private onDrain(ms: number, epoch: number): void {
    if (epoch !== this.conn.live || this.conn.drainingEpoch === epoch) return;
    this.conn.drainingEpoch = epoch;
    this.to.feed.emit({ type: 'draining', url: this.to.control.url, ms });
    this.leaveWhenDone();
  }

  /** While the broker drains: leaves once nothing is awaited on this connection. */
  private leaveWhenDone(): void {
    const conn = this.conn;
    if (!conn.drainingEpoch || conn.drainingEpoch !== conn.live) return;
    // What was queued before the drain began goes now; a publish among it comes back as DRAINING and waits.
    if (!this.to.outbound.isEmpty) this.to.outbound.flushNow();
    if (conn.unsettled > 0 || this.to.pending.busy(conn.live)) return;
    this.to.control.abandon(CLOSE_CODES.NORMAL.code, 'broker draining');
  }

  private onError(frame: ErrFrame): void {
    const err = new LindenError(isErrorCode(frame.code) ? frame.code : 'INTERNAL_ERROR', frame.message, frame.details);
    // Refused by a draining broker, so it had no effect there: it goes to the next one instead.
    const re = frame.re;
    const again = err.code === 'DRAINING' && re !== undefined ? this.to.pending.unsend(re) : undefined;
    if (again) {
      this.to.outbound.holdForNextBroker(again, re!);
      this.conn.drainingEpoch ||= this.conn.live;
      this.leaveWhenDone();
      return;
    }
    const entry = frame.re === undefined ? undefined : this.to.pending.settle(frame.re);
    if (entry) {
      entry.reject(err);
      this.leaveWhenDone();
      return;
    }
    if (frame.re === 0 && this.to.control.refuseHandshake(err)) return;
    const sid = frame.details?.sid;
    // A subscription the broker ended (its queue was deleted) is not restored on reconnect.
    if (typeof sid !== 'number' || !this.to.subs.ended(sid, err)) this.to.feed.emit({ type: 'error', error: err });
  }
}
