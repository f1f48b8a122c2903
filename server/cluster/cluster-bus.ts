import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AckLevel, PubFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ResolvedOptions } from '../options.js';
import type { ClusterLink, ClusterStats, Stored } from '../pubsub/cluster-link.js';
import type { OutboundMessage } from '../pubsub/outbound-message.js';
import { Payload } from '../pubsub/payload.js';
import type { PubSubCore } from '../pubsub/pubsub-core.js';
import { ReceiptTracker } from '../pubsub/receipt-tracker.js';
import { groupKey } from '../pubsub/router.js';
import { isGroup, type RouteEntry, type Subscription } from '../pubsub/subscription.js';
import { msgpackCodec } from '../../protocol/codec.js';
import { decodeBusFrame, encodeBody, encodeEvent, encodeKick, encodeKicked, encodeMessage, encodeReturned, encodeQueueEvent, encodeReport, type BusEvent, type BusFrame, type Track } from './bus-frames.js';
import type { ReceiptEvent } from './durable/receipt-watches.js';
import { ClusterSubmission } from './cluster-submission.js';
import type { InterestSync } from './interest-sync.js';
import { HeldAnswers } from './held-answers.js';
import { nodeChannel } from './keys.js';
import { deliverFromBus, type ReportSink } from './remote-delivery.js';
import type { RemoteGroup, RemoteInterest } from './remote-interest.js';

/** What waits for other nodes' reports: a receipt tracker, or a submission receipt. */
interface Waiter extends Partial<Pick<ReceiptTracker, 'delivered' | 'processed' | 'rejected' | 'lost'>> {
  expectNode(): void;
  addRemote(receivers: readonly ReceiverRef[], dropped: readonly ReceiverRef[], unnamed?: number): number;
}

interface Pending {
  readonly waiter: Waiter;
  /** Index of each node's first receiver in the waiter. */
  readonly bases: Map<string, number>;
}

const TURNS_LIMIT = 16_384;

/**
 * Cross-node pub/sub over Redis sharded pub/sub: one channel per node. A publish goes to the
 * local subscribers as on a broker of its own and, only when other nodes advertise a matching
 * interest, to those nodes' channels; a node reports its receivers back on the publisher node's.
 */
export class ClusterBus implements ClusterLink, ReportSink {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Per queue group (router key): the publishes dealt so far, for a round-robin weighted by members. */
  private readonly turns = new Map<string, number>();
  /**
   * Subscribed to this node's channel: the other nodes' reports can reach it. Until then (and
   * while Redis is away) a publish stays local, as on a broker of its own, rather than wait for
   * answers that cannot come.
   */
  listening = false;
  private sent = 0;
  private arrived = 0;
  /** Where a durable queue's receipt event for a publisher of this node goes (ClusterQueues.receiptEvent). */
  queueEvent: ((queue: string, mid: string, e: ReceiptEvent) => void) | undefined;
  /** Closes a connection of this node for an operator on another (admin `kick`); false when there is none of that id. */
  kickHere: ((connection: string) => boolean) | undefined;
  /** A client with a last will came back on another node (Wills.returned). */
  returnedHere: ((key: string) => void) | undefined;
  /** Kicks asked of other nodes, waiting for their answer. */
  private readonly kicks = new Map<number, (found: boolean) => void>();
  private readonly answers: HeldAnswers;

  constructor(
    private readonly node: string,
    private readonly redis: Redis,
    private readonly core: PubSubCore,
    private readonly remote: RemoteInterest,
    private readonly interest: InterestSync,
    private readonly options: ResolvedOptions,
    private readonly log: Logger,
  ) {
    this.answers = new HeldAnswers(redis);
  }

  get stats(): ClusterStats {
    return { connected: this.listening, nodes: this.remote.nodeCount, sent: this.sent, received: this.arrived };
  }

  subscribed(sub: Subscription): Promise<void> | undefined {
    return this.interest.added(sub);
  }

  unsubscribed(sub: Subscription): void {
    this.interest.removed(sub);
  }

  hasInterest(topic: string): boolean {
    if (!this.listening) return false;
    const plan = this.remote.plan(topic);
    return plan.plain.size > 0 || plan.groups.length > 0;
  }

  publish(conn: Connection, f: PubFrame, ack: AckLevel, message: OutboundMessage, entries: RouteEntry[], persistent?: Stored): boolean {
    if (!this.listening) return false;
    const plan = this.remote.plan(message.topic);
    if (plan.plain.size === 0 && plan.groups.length === 0) return false;
    const targets = new Map<string, string[]>();
    for (const node of plan.plain.keys()) targets.set(node, []);
    const local = plan.groups.length === 0 ? entries : this.dealGroups(entries, plan.groups, targets);
    const core = this.core;
    if (ack === 'none') {
      this.send(targets, message, undefined);
      core.fanOut(message, local, false);
      return true;
    }
    const timeoutMs = Math.min(f.timeout ?? this.options.receiptTimeoutMs, this.options.maxTimeoutMs);
    const id = this.nextId++;
    const track: Track = { origin: this.node, id, stage: ack, reply: f.reply === true, codec: conn.codec.name, timeoutMs };
    if (ack === 'submission') {
      const submission = new ClusterSubmission(conn, f.id!, message.mid, persistent?.queues);
      this.wait(id, submission, targets, message, track);
      submission.onDone = () => this.pending.delete(id);
      submission.local(local.length, core.fanOut(message, local, true));
      submission.start(timeoutMs);
      return true;
    }
    const tracker = persistent?.tracker ?? new ReceiptTracker(conn, f.id!, message.mid, ack, f.reply === true);
    tracker.onDone = () => this.pending.delete(id);
    this.wait(id, tracker, targets, message, track);
    core.track(conn, f, ack, message, local, tracker);
    return true;
  }

  /**
   * A retained publish is heard by every node (cluster-retained.ts): which node's members take it
   * for each queue group, as `<node> <group key>`, dealt as for any publish (this node's included).
   */
  dealRetained(topic: string, entries: RouteEntry[]): string[] {
    const plan = this.listening ? this.remote.plan(topic) : undefined;
    const targets = new Map<string, string[]>();
    const local = plan && plan.groups.length > 0 ? this.dealGroups(entries, plan.groups, targets) : entries;
    const assigned: string[] = [];
    for (const e of local) if (isGroup(e)) assigned.push(`${this.node} ${groupKey(e.name, e.pattern)}`);
    for (const [node, keys] of targets) for (const key of keys) assigned.push(`${node} ${key}`);
    return assigned;
  }

  /**
   * Chooses, for each queue group with members elsewhere, the node that takes this message:
   * round-robin over this node's members and the other nodes weighted by their members. Returns
   * the local entries that remain (plain subscriptions, groups kept here).
   */
  private dealGroups(entries: RouteEntry[], groups: RemoteGroup[], targets: Map<string, string[]>): RouteEntry[] {
    const elsewhere = new Map(groups.map((g) => [g.key, g]));
    const local: RouteEntry[] = [];
    for (const e of entries) {
      const remote = isGroup(e) ? elsewhere.get(groupKey(e.name, e.pattern)) : undefined;
      if (!remote || !isGroup(e)) {
        local.push(e);
        continue;
      }
      elsewhere.delete(remote.key);
      const node = this.deal(remote, e.members.length);
      if (node === undefined) local.push(e);
      else addTarget(targets, node, remote.key);
    }
    for (const g of elsewhere.values()) addTarget(targets, this.deal(g, 0)!, g.key);
    return local;
  }

  /** The node whose turn it is, or undefined for this one. */
  private deal(group: RemoteGroup, localMembers: number): string | undefined {
    const turn = this.turns.get(group.key) ?? 0;
    if (this.turns.size >= TURNS_LIMIT) this.turns.clear();
    this.turns.set(group.key, turn + 1);
    let i = turn % (localMembers + group.total);
    if (i < localMembers) return undefined;
    i -= localMembers;
    for (let n = 0; n < group.nodes.length; n++) {
      if (i < group.counts[n]!) return group.nodes[n];
      i -= group.counts[n]!;
    }
    return group.nodes[0];
  }

  private wait(id: number, waiter: Waiter, targets: Map<string, string[]>, message: OutboundMessage, track: Track): void {
    const pending: Pending = { waiter, bases: new Map() };
    this.pending.set(id, pending);
    for (const node of targets.keys()) waiter.expectNode();
    this.send(targets, message, track, (node) => {
      // Nobody will report for a node that did not get it (gone, or Redis away).
      if (!pending.bases.has(node)) pending.bases.set(node, waiter.addRemote([], []));
    });
  }

  private send(targets: Map<string, string[]>, message: OutboundMessage, track: Track | undefined, unreached?: (node: string) => void): void {
    const body = encodeBody(message.topic, message.mid, message.payload.packedData(), message.hdr, track);
    for (const [node, groups] of targets) {
      this.sent++;
      this.redis.spublish(nodeChannel(node), encodeMessage(groups, body)).then(
        (listeners) => { if (listeners === 0) unreached?.(node); },
        () => unreached?.(node),
      );
    }
  }

  /** A frame on this node's channel. */
  received(buf: Buffer): void {
    let frame: BusFrame;
    try {
      frame = decodeBusFrame(buf);
    } catch (err) {
      this.log.warn({ err }, 'cluster: undecodable bus frame ignored');
      return;
    }
    if (frame.kind === 'message') {
      this.arrived++;
      return deliverFromBus(this.core, frame, this);
    }
    if (frame.kind === 'queue-event') return this.queueEvent?.(frame.queue, frame.mid, frame.event);
    if (frame.kind === 'kick') {
      const found = this.kickHere?.(frame.connection) ?? false;
      return this.answers.publish(nodeChannel(frame.origin), encodeKicked(frame.id, found)); // the asker gives up after its wait
    }
    if (frame.kind === 'kicked') return this.kicks.get(frame.id)?.(frame.found);
    if (frame.kind === 'returned') return this.returnedHere?.(frame.key);
    const pending = this.pending.get(frame.id);
    if (!pending) return; // answered already (timed out)
    if (frame.kind === 'report') {
      if (!pending.bases.has(frame.node)) pending.bases.set(frame.node, pending.waiter.addRemote(frame.receivers, frame.dropped, frame.unnamed));
      return;
    }
    const base = pending.bases.get(frame.node);
    if (base === undefined) return;
    const i = base + frame.index;
    const w = pending.waiter;
    if (frame.what === 'd') w.delivered?.(i);
    else if (frame.what === 'p') w.processed?.(i, frame.data && new Payload(frame.data, msgpackCodec));
    else if (frame.what === 'r') w.rejected?.(i, frame.reason);
    else w.lost?.(i);
  }

  report(track: Track, receivers: ReceiverRef[], dropped: ReceiverRef[], unnamed = 0): void {
    this.reply(track, encodeReport(track.id, this.node, receivers, dropped, unnamed));
  }

  event(track: Track, index: number, what: BusEvent['what'], reason?: string, data?: Uint8Array): void {
    this.reply(track, encodeEvent(track.id, this.node, index, what, reason, data));
  }

  /**
   * Admin `kick` of a connection on another node, over its channel: resolves with whether that
   * node had it (and closed it), or false when it does not answer within `waitMs` (gone, or Redis away).
   */
  kick(node: string, connection: string, waitMs: number): Promise<boolean> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const done = (found: boolean) => {
        clearTimeout(timer);
        this.kicks.delete(id);
        resolve(found);
      };
      const timer = setTimeout(() => done(false), waitMs);
      this.kicks.set(id, done);
      this.redis.spublish(nodeChannel(node), encodeKick(id, this.node, connection)).catch(() => done(false));
    });
  }

  /**
   * A client with a last will said hello here: every other node is told, so one holding a will of
   * that client cancels it. Best effort: with Redis away the will is published after its delay.
   */
  announceReturn(key: string): void {
    if (!this.listening) return;
    const frame = encodeReturned(key);
    for (const node of this.remote.nodeIds) this.redis.spublish(nodeChannel(node), frame).catch(() => undefined);
  }

  /** A durable queue's event for a publisher on `node` (the entry's origin): the seam ClusterQueues.forwardReceipt. */
  forwardQueueEvent(node: string, queue: string, mid: string, e: ReceiptEvent): void {
    this.answers.publish(nodeChannel(node), encodeQueueEvent(queue, mid, e));
  }

  private reply(track: Track, frame: Buffer): void {
    this.answers.publish(nodeChannel(track.origin), frame);
  }
}

function addTarget(targets: Map<string, string[]>, node: string, key: string): void {
  const groups = targets.get(node);
  if (groups) groups.push(key);
  else targets.set(node, [key]);
}
