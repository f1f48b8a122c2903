import type { AckLevel, PubFrame, ReceiverRef } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ClusterQueues } from '../cluster/durable/cluster-queues.js';
import { AfterCommit } from '../store/after-commit.js';
import type { DurableCore } from './durable/durable-core.js';
import type { DurableQueue } from './durable/durable-queue.js';
import type { MessageWatch } from './durable/queue-records.js';
import type { OutboundMessage } from './outbound-message.js';
import type { Payload } from './payload.js';
import type { PubSubCore } from './pubsub-core.js';
import { ReceiptTracker } from './receipt-tracker.js';
import { bothWritten } from './retain-rules.js';
import type { RouteEntry } from './subscription.js';
import { sendSubmissionReceipt, submissionReceipt } from './submission-receipt.js';

interface StoredReceipt {
  conn: Connection;
  re: number;
  mid: string;
  receivers: number;
  dropped: ReceiverRef[] | undefined;
  queues: readonly string[];
}

/**
 * Persistent publishes: stored first (in the durable core, or in Redis in cluster mode), then
 * delivered to the live subscribers through the pub/sub core, with receipts that wait for the
 * store. Transient publishes never come here.
 */
export class PersistentPublishes {
  /** Submission receipts of persistent publishes, sent once their write is on disk. */
  private readonly receiptsAfterCommit = new AfterCommit<StoredReceipt>(
    (r) => sendSubmissionReceipt(r.conn, r.re, r.mid, r.receivers, r.dropped, r.queues),
    (r, err) => r.conn.sendError(err, r.re),
  );

  constructor(
    /** Delivers to the live subscribers and tracks receipts. */
    private readonly core: PubSubCore,
    private readonly durable: DurableCore,
    /** Cluster mode: durable subscriptions and persistent messages live in Redis instead (server/cluster/durable/). */
    private readonly clusterQueues: ClusterQueues | undefined,
  ) {}

  /** `clears`: a retained publish with an empty payload (isEmpty), which clears its topic's retained message. */
  publish(conn: Connection, f: PubFrame, ack: AckLevel, mid: string, payload: Payload, message: OutboundMessage, entries: RouteEntry[], clears: boolean): void {
    if (this.clusterQueues) this.publishClustered(this.clusterQueues, conn, f, ack, mid, payload, message, entries);
    else this.publishPersistent(conn, f, ack, mid, payload, message, entries, clears);
  }

  /**
   * Stores the message in every durable queue its topic reaches, then delivers it to the live
   * transient subscribers too. A submission receipt waits for the disk; so does any later stage.
   */
  private publishPersistent(
    conn: Connection, f: PubFrame, ack: AckLevel, mid: string, payload: Payload, message: OutboundMessage, entries: RouteEntry[], clears: boolean,
  ): void {
    const { core } = this;
    const tracker = ack === 'delivery' || ack === 'processing' ? new ReceiptTracker(conn, f.id!, mid, ack, false, true) : undefined;
    const watchFor = tracker && ((q: DurableQueue) => watchOf(tracker, tracker.addQueue(q.name)));
    const stored = this.durable.publish(f.topic, mid, f.mid !== undefined, payload, f.ttl, f.hdr, watchFor);
    if (stored.duplicate) {
      if (ack === 'none') return;
      const receipt = { ...submissionReceipt(f.id!, mid, 0, [], []), duplicate: true };
      if (!stored.durable) conn.sendFrame(receipt);
      else stored.durable.then(() => conn.sendFrame(receipt), (err: unknown) => conn.sendError(err, f.id));
      return;
    }
    // A repeat (above) does not retain again: a newer value may have replaced it since.
    const durable = f.retain === true ? bothWritten(stored.durable, core.retained.keep(f.topic, mid, payload, clears, f.hdr, true)) : stored.durable;
    if (tracker) {
      tracker.after(durable);
      core.track(conn, f, ack as 'delivery' | 'processing', message, entries, tracker);
      return;
    }
    const dropped = core.fanOut(message, entries, ack !== 'none');
    if (ack === 'none') {
      durable?.catch(() => {}); // logged by the store; nobody waits
      return;
    }
    const receivers = entries.length + stored.queues.length;
    const queues = namesOf(stored.queues);
    if (!durable) sendSubmissionReceipt(conn, f.id!, mid, receivers, dropped, queues);
    else this.receiptsAfterCommit.add(durable, { conn, re: f.id!, mid, receivers, dropped, queues });
  }

  /**
   * Cluster mode: the message goes to Redis (ClusterQueues.publish). Live subscribers get it at
   * once unless the stored outcome decides what they get: a publisher's mid may be a repeat
   * (then nobody gets it again), a delivery or processing receipt names the queues reached, and
   * subscribers on other nodes get it through the bus once Redis has it, as a transient publish.
   */
  private publishClustered(
    cluster: ClusterQueues, conn: Connection, f: PubFrame, ack: AckLevel, mid: string, payload: Payload, message: OutboundMessage, entries: RouteEntry[],
  ): void {
    const { core } = this;
    const watched = ack === 'delivery' || ack === 'processing';
    const stored = cluster.publish(f.topic, mid, f.mid !== undefined, payload, f.ttl, f.hdr, watched);
    if (!watched && f.mid === undefined && !core.cluster?.hasInterest(f.topic)) {
      const dropped = core.fanOut(message, entries, ack !== 'none');
      if (ack === 'none') stored.catch(() => {}); // logged by the cluster; nobody waits
      else stored.then(({ queues }) => sendSubmissionReceipt(conn, f.id!, mid, entries.length + queues.length, dropped, queues), (err: unknown) => conn.sendError(err, f.id));
      return;
    }
    stored.then(({ queues, duplicate }) => {
      if (duplicate) {
        if (ack !== 'none') conn.sendFrame({ ...submissionReceipt(f.id!, mid, 0, [], []), duplicate: true });
        return;
      }
      const tracker = watched ? new ReceiptTracker(conn, f.id!, mid, ack, false, true) : undefined;
      for (const name of tracker ? queues : []) cluster.bind(name, mid, watchOf(tracker!, tracker!.addQueue(name)));
      if (core.cluster?.publish(conn, f, ack, message, entries, { queues, tracker })) return;
      if (tracker) return core.track(conn, f, ack as 'delivery' | 'processing', message, entries, tracker);
      const dropped = core.fanOut(message, entries, ack !== 'none');
      if (ack !== 'none') sendSubmissionReceipt(conn, f.id!, mid, entries.length + queues.length, dropped, queues);
    }, (err: unknown) => {
      if (ack !== 'none') conn.sendError(err, f.id);
    });
  }
}

const queueNames = new WeakMap<readonly DurableQueue[], string[]>();

/** The durable core returns one array per route: its names are computed once, not per publish. */
function namesOf(queues: readonly DurableQueue[]): string[] {
  let names = queueNames.get(queues);
  if (!names) queueNames.set(queues, (names = queues.map((q) => q.name)));
  return names;
}

function watchOf(tracker: ReceiptTracker, index: number): MessageWatch {
  return {
    delivered: () => tracker.delivered(index),
    processed: () => tracker.processed(index),
    rejected: (reason) => tracker.rejected(index, reason),
    lost: () => tracker.lost(index),
  };
}
