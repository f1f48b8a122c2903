import type { WebSocket } from 'ws';
import { Parts, type Codec, type Piece } from '../protocol/codec.js';
import type { FrameWriter, MsgpackFrameWriter } from '../protocol/frame-writer.js';
import { boundedDetails, clip, MAX_ERROR_MESSAGE } from '../protocol/echo.js';
import { LindenError } from '../protocol/errors.js';
import type { Frame, Interceptor } from '../protocol/interceptor.js';
import { MessageChain } from '../protocol/message-chain.js';
import type { RequestHooks } from '../protocol/request-hooks.js';
import type { ReceiptFrame } from '../protocol/frames.js';
import { ConnectionEnds, requestHooks } from './connection-interceptors.js';
import { CountedMap, Tally } from './counted-map.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { Inbox } from './inbox.js';
import { OutputStall } from './output-stall.js';
import { OutputFlow, type FlowSide, type PauseReason } from './output-flow.js';
import { eventFits, OverBudget, type BudgetSide } from './over-budget.js';
import type { OutboundMessage, DeliveryExtras } from './pubsub/outbound-message.js';
import type { Payload } from './pubsub/payload.js';
import type { ReceiptTracker } from './pubsub/receipt-tracker.js';
import type { Subscription } from './pubsub/subscription.js';
import { EVERYTHING, type Permissions } from './auth/permissions.js';
import { DeliveryTags, NO_TAGS, type TagEntry, type TagOwner } from './delivery-tags.js';
import type { ConnectionWill } from './wills.js';

export interface ConnectionLimits {
  maxFrameBytes: number;
  maxPendingBytes: number;
  maxMessageBytes: number;
  interceptors: readonly Interceptor[];
}

/** Room left in a frame for the fields around a payload, for a client that takes no fragments. */
const FIELDS_ROOM = 8 * 1024;

export type { TagOwner } from './delivery-tags.js';

/** One client connection: its codec, subscriptions, outstanding deliveries and write queue. */
export class Connection implements FlowSide, BudgetSide {
  state: 'handshake' | 'open' | 'closed' = 'handshake';
  name: string | undefined;
  /** Who logged in (null: anonymous on a broker with users; undefined: a broker without users). */
  user: string | null | undefined;
  /** What the connection may do; everything on a broker without users (protocol.md §4.7). */
  permissions: Permissions = EVERYTHING;
  /** Its last will (`hello.will`, server/wills.ts), published if it ends without a clean close. */
  will: ConnectionWill | undefined = undefined;
  alive = true;
  /**
   * Deliveries whose publisher waits for this connection's rcv/ack. Like the other maps and
   * sets of a connection, made on first use: an idle connection holds none (issue 14).
   */
  private tags: DeliveryTags | undefined;
  /** Publishes of this connection waiting for receivers (track/untrack). */
  private trackerSet: Set<ReceiptTracker> | undefined;
  private subMap: CountedMap<number, Subscription> | undefined;
  private readonly writer: FrameWriter;
  private flushPending = false;
  readonly stats = { messagesIn: 0, messagesOut: 0, dropped: 0, paused: 0 };
  /** `err`s sent so far: dispatch counts those of each frame (protocol.md §12). */
  errorsSent = 0;
  /** Inbound frames and messages waiting for this connection's turn (server/turns.ts). */
  readonly inbox = new Inbox();
  /** Who waits for the output to leave, and why the socket is not read from (server/output-flow.ts). */
  private readonly flow: OutputFlow = new OutputFlow(this);
  /** What the client announced in `hello.ext`, per interceptor name. */
  peerExt: Record<string, Record<string, unknown>> = NO_EXT;
  /** Message-level interceptors; undefined when there are none. */
  readonly chain: MessageChain | undefined;
  /** Messages of at least this size go through the chain; smaller ones straight to the writer. */
  private chainFrom = Infinity;
  /** The payload limit this connection is told in `welcome` and held to (protocol.md §3.4). */
  maxMessageBytes: number;
  readonly inbound: RequestHooks;
  readonly outbound: RequestHooks;
  /** Whether the output is over budget and not moving (server/slow-consumers.ts sweeps it). */
  private readonly stall = new OutputStall();
  /** Drops to report, events refused (server/over-budget.ts); made the first time the output is past its budget. */
  private overBudget: OverBudget | undefined;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    readonly codec: Codec,
    readonly remoteAddress: string,
    private readonly limits: ConnectionLimits,
    private readonly scheduler: FlushScheduler,
    /** Hands a message the chain passed on to the broker (dispatch.ts); one function for all connections. */
    readonly receive: (conn: Connection, message: unknown) => void,
    /** Closes a connection as a slow consumer through the broker (4007, counted and logged), then releases it. */
    private readonly closeSlow: (conn: Connection, reason: string) => void,
    /** The broker-wide count of subscriptions, which this connection's add to. */
    private readonly subscriptionTally: Tally = new Tally(),
  ) {
    this.writer = codec.createWriter(limits.maxFrameBytes);
    this.maxMessageBytes = limits.maxMessageBytes;
    this.inbound = requestHooks(limits.interceptors, 'inbound', this);
    this.outbound = requestHooks(limits.interceptors, 'outbound', this);
    const chain = new MessageChain(limits.interceptors, new ConnectionEnds(this, limits));
    this.chain = chain.isEmpty ? undefined : chain;
  }

  /** Its subscriptions by sid (empty and shared until the first: subscribe() adds them). */
  get subs(): Omit<Map<number, Subscription>, 'set'> {
    return this.subMap ?? NO_SUBS;
  }

  subscribe(sid: number, sub: Subscription): void {
    (this.subMap ??= new CountedMap(this.subscriptionTally)).set(sid, sub);
  }

  /** Publishes of this connection waiting for receivers. */
  get trackers(): ReadonlySet<ReceiptTracker> {
    return this.trackerSet ?? NO_TRACKERS;
  }

  track(tracker: ReceiptTracker): void {
    (this.trackerSet ??= new Set()).add(tracker);
  }

  untrack(tracker: ReceiptTracker): void {
    this.trackerSet?.delete(tracker);
  }

  /** After the handshake: what the peer announced decides which messages the chain must see. */
  negotiated(ext: Record<string, Record<string, unknown>> | undefined): void {
    this.peerExt = ext ?? NO_EXT;
    this.chainFrom = this.chain ? this.chain.minBytes : Infinity;
    // A client that cannot take fragments gets messages whole, so they must fit one frame. Set from
    // the limits each time: a hello refused for its will may be followed by another (§4.4).
    this.maxMessageBytes = this.fragments ? this.limits.maxMessageBytes : Math.min(this.limits.maxMessageBytes, this.limits.maxFrameBytes - FIELDS_ROOM);
  }

  /** Whether the client reassembles fragments, so messages over one frame can reach it. */
  get fragments(): boolean {
    return this.chainFrom !== Infinity;
  }

  /**
   * Over its pending-bytes limit: transient deliveries to it are dropped and reported. A small
   * message overtakes fragments still to be cut (no head-of-line blocking), so only a `large`
   * one counts them.
   */
  isCongested(large = false): boolean {
    return (large ? this.pendingBytes : this.wireBytes) > this.limits.maxPendingBytes;
  }

  /**
   * Calls `fn` once the socket has taken what was queued for it, so a sender held back by
   * isCongested() may try again; while the peer reads nothing, that is never (no polling).
   */
  whenSocketTakes(fn: () => void): void {
    this.flow.whenSocketTakes(fn);
  }

  /** A tuple-space event: never dropped, but one past the cap closes the connection with 4007 (eventFits). */
  sendEvent(frame: object): void {
    if (this.state === 'closed' || this.overBudget?.eventsRefused) return;
    if (eventFits(this)) this.sendFrame(frame);
    else (this.overBudget ??= new OverBudget(this)).refuseEvents((reason) => this.closeSlow(this, reason));
  }

  /** Whether a transient delivery of `message` would be dropped now: the one test deliver() applies. */
  wouldDrop(message: OutboundMessage): boolean {
    return this.isCongested(this.isLarge(message));
  }

  /** A message that goes through the chain (fragments) rather than straight into the frame. */
  private isLarge(message: OutboundMessage): boolean {
    return message.payloadBytes + 1024 >= this.chainFrom;
  }

  /** Whether a delivery of a payload this size surely reaches the fragmenting hook: the payload alone is over the chain's threshold. */
  fragmentsPayload(payloadBytes: number): boolean {
    return payloadBytes >= this.chainFrom;
  }

  /** Outbound bytes not yet handed to the kernel: held by interceptors (fragments to come), queued here, buffered by the socket. */
  get pendingBytes(): number {
    return this.wireBytes + (this.chain ? this.chain.queuedBytes : 0);
  }

  /** One sweep's look at the output (server/slow-consumers.ts): how long it has been over budget with none of it taken. */
  outputStalledFor(now: number): number {
    return this.stall.observe(this.flow.socket, this.state !== 'closed' && this.pendingBytes > this.limits.maxPendingBytes, now);
  }

  /** How long the output has been over budget with none of it taken, as of the last sweep; 0 when it is not. */
  get stalledMs(): number {
    return this.stall.stalledMs();
  }

  /** Outbound bytes already encoded for the socket: what a paced sender waits on. */
  get wireBytes(): number {
    return this.ws.bufferedAmount + this.writer.bytes;
  }

  send(piece: Piece): void {
    if (this.state === 'closed') return;
    if (piece.length >= this.chainFrom) this.chain!.send(piece);
    else this.write(piece);
  }

  /**
   * Straight to the frame being filled, past the interceptors (the chain's socket end). Parts
   * (a fragment, a large delivery) leave as one message in several WebSocket frames, the payload
   * written from where it lies: copying it behind the message's head cost the broker as much
   * again as receiving it (issue 14).
   */
  write(piece: Piece | Parts): void {
    if (this.state === 'closed') return;
    if (piece instanceof Parts) (this.writer as MsgpackFrameWriter).pieces(piece.parts);
    else this.writer.piece(piece);
    this.schedule();
  }

  /**
   * The MessagePack frame being filled, with room made for one message of at most `size` bytes
   * for the caller to write at `pos` and move `pos` past (a hot reply encoded in place); undefined
   * when the message must take send(): another codec, a closed connection, or a size that goes
   * through the interceptors' chain.
   */
  frameToWrite(size: number): MsgpackFrameWriter | undefined {
    if (this.state === 'closed' || this.codec.name !== 'msgpack' || size >= this.chainFrom) return undefined;
    const w = this.writer as MsgpackFrameWriter;
    w.begin(size);
    this.schedule();
    return w;
  }

  /** True when a message encoded ahead may go to send() as it is: MessagePack, and no outbound interceptor to see it as an object. */
  get takesPacked(): boolean {
    return this.codec.name === 'msgpack' && this.outbound.isEmpty;
  }

  sendFrame(message: object): void {
    if (this.outbound.isEmpty) {
      this.send(this.codec.encode(message));
      return;
    }
    this.outbound.run(message as Frame, (f) => this.send(this.codec.encode(f)), (err) => {
      if ((message as Frame).t !== 'err') this.sendError(err, (message as { re?: number }).re);
    });
  }

  sendError(err: unknown, re?: number): void {
    this.errorsSent++;
    const e = err instanceof LindenError ? err : new LindenError('INTERNAL_ERROR');
    // Every err is bounded, whatever its maker echoed of the client's values (protocol.md §12).
    const frame: Record<string, unknown> = { t: 'err', code: e.code, message: clip(e.message, MAX_ERROR_MESSAGE) };
    if (re !== undefined) frame.re = re;
    if (e.details) frame.details = boundedDetails(e.details);
    this.sendFrame(frame);
  }

  sendReceipt(receipt: ReceiptFrame, reply?: Payload): void {
    if (reply) receipt.data = reply.wireData(this.codec);
    this.sendFrame(receipt);
  }

  /**
   * Queues a message for subscription `sid`; false when dropped because the connection is
   * congested. `mustSend` (durable deliveries, bounded by maxInFlight) is never dropped.
   */
  deliver(sid: number, message: OutboundMessage, extras?: DeliveryExtras, mustSend = false): boolean {
    const large = this.isLarge(message);
    if (!mustSend && this.isCongested(large)) {
      this.stats.dropped++;
      (this.overBudget ??= new OverBudget(this)).unreported++;
      this.schedule();
      return false;
    }
    if (this.state === 'closed') return true;
    this.stats.messagesOut++;
    if (large) {
      this.chain!.send(message.encode(this.codec, sid, extras));
      return true;
    }
    message.writeTo(this.writer, this.codec, sid, extras);
    this.schedule();
    return true;
  }

  trackTag(owner: TagOwner, index: number): number {
    return (this.tags ??= new DeliveryTags()).track(owner, index);
  }

  /** The owner behind a delivery tag (DeliveryTags.entry: UNKNOWN_ID for one never handed out). */
  tagEntry(tag: number): TagEntry | undefined {
    return (this.tags ?? NO_TAGS).entry(tag);
  }

  releaseTag(tag: number): void {
    this.tags?.release(tag);
  }

  /** Fails what others wait for from this connection; the caller removes its subscriptions. */
  dispose(): void {
    this.state = 'closed';
    const tags = this.tags;
    this.tags = undefined;
    tags?.loseAll();
    const trackers = this.trackerSet;
    this.trackerSet = undefined;
    for (const tracker of trackers ?? []) tracker.cancel();
    this.writer.take();
    this.chain?.close();
    this.inbox.clear();
    this.flow.dispose();
  }

  /** Calls `fn` once what is queued for this connection has mostly reached the kernel. */
  whenDrained(fn: () => void): void {
    this.flow.whenDrained(fn);
  }

  /** Asks for a flush at the end of the turn (FlushScheduler). */
  schedule(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    this.scheduler.mark(this);
  }

  flush(): void {
    this.flushPending = false;
    if (this.state === 'closed') return;
    if (this.overBudget !== undefined && this.overBudget.unreported > 0) this.overBudget.report();
    const binary = this.codec.name === 'msgpack';
    for (const frame of this.writer.take()) {
      if (typeof frame === 'string' || frame instanceof Uint8Array) {
        this.ws.send(frame, { binary });
        continue;
      }
      // One message in several frames: ws sends them back to back, nothing can come between.
      const last = frame.length - 1;
      for (let i = 0; i <= last; i++) this.ws.send(frame[i]!, { binary, fin: i === last });
    }
    // Nothing buffered: the kernel took the frames whole, so their memory may be written again.
    if (this.ws.bufferedAmount === 0) this.writer.recycle?.();
    this.flow.flushed();
  }

  /** Over its budget of unsent output while its peer is there to read it (OutputFlow.outputFull). */
  get outputFull(): boolean {
    return this.flow.outputFull;
  }

  /** Calls `fn` once the output may be under budget again: after the next flush, or once the socket has drained. */
  whenWritable(fn: () => void): void {
    this.flow.whenWritable(fn);
  }

  /** Stops reading from the socket for `reason`; several reasons may hold at once. */
  pauseReading(reason: PauseReason): void {
    this.flow.pauseReading(reason);
  }

  resumeReading(reason: PauseReason): void {
    this.flow.resumeReading(reason);
  }

  // What OutputFlow reads of the connection.
  get closed(): boolean {
    return this.state === 'closed';
  }

  get queuedMessages(): number {
    return this.writer.messages;
  }

  get maxPendingBytes(): number {
    return this.limits.maxPendingBytes;
  }

  pausedForOutput(): void {
    this.stats.paused++;
  }
}

const NO_EXT: Record<string, Record<string, unknown>> = Object.freeze({});
const NO_TRACKERS: ReadonlySet<ReceiptTracker> = new Set();
/** What `subs` shows of a connection without subscriptions; Connection.subscribe() makes its own map. */
const NO_SUBS: Omit<Map<number, Subscription>, 'set'> = new Map();
