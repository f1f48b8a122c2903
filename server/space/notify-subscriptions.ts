import { LindenError } from '../../protocol/errors.js';
import type { EventFrame, NotifyFrame, UnnotifyFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { ConnectionHoldings, Holdings } from './holdings.js';
import type { SpaceAdmission } from './space-admission.js';
import type { SpaceCluster } from './space-cluster.js';
import type { Notifier, Space, SpaceEventType } from './space.js';
import type { StoredTuple } from './stored-tuple.js';
import { outbound } from './space-wire.js';

/** What notify subscriptions need of the core: the space to file one in, to let go of a space one leaves, the cluster's spaces when there are. */
export interface NotifyHost {
  readonly cluster: SpaceCluster | undefined;
  /** The space, created (transient) if there is none. */
  space(name: string): Space;
  /** Forgets the space if it is transient and holds nothing. */
  release(space: Space): void;
}

/**
 * The `notify` subscriptions of the connections: filed with their connection under the same
 * limits as waiting requests, held by their space (or, in cluster mode, by the cluster, which
 * brings every node's events), until `unnotify` or the connection goes.
 */
export class NotifySubscriptions {
  constructor(
    private readonly spaces: ReadonlyMap<string, Space>,
    private readonly host: NotifyHost,
    private readonly holdings: ConnectionHoldings,
    private readonly admission: SpaceAdmission,
  ) {}

  notify(conn: Connection, f: NotifyFrame): void {
    const held = this.holdings.of(conn);
    if (held.notifiers.has(f.nid)) throw new LindenError('DUPLICATE_ID', `notify id ${f.nid} is already in use`, { nid: f.nid });
    this.holdings.checkRoom(held);
    const n: Notifier = {
      nid: f.nid, space: f.space, conn, template: this.admission.template(conn, f.template),
      events: new Set<SpaceEventType>(f.events ?? ['out', 'in', 'expire']), seq: 0,
    };
    held.notifiers.set(f.nid, n);
    const cluster = this.host.cluster;
    if (cluster) {
      cluster.addNotifier(n).then(() => conn.sendFrame({ t: 'ok', re: f.id }), (err: unknown) => {
        if (held.notifiers.get(f.nid) === n) held.notifiers.delete(f.nid);
        this.drop(n);
        conn.sendError(err, f.id);
      });
      return;
    }
    this.host.space(f.space).addNotifier(n); // the template compiled above: a refused one makes no space
    conn.sendFrame({ t: 'ok', re: f.id });
  }

  unnotify(conn: Connection, f: UnnotifyFrame): void {
    const held = this.holdings.of(conn);
    const n = held.notifiers.get(f.nid);
    if (!n) throw new LindenError('UNKNOWN_ID', `no notify subscription with id ${f.nid}`, { nid: f.nid });
    held.notifiers.delete(f.nid);
    this.drop(n);
    conn.sendFrame({ t: 'ok', re: f.id });
  }

  /** The connection went: its subscriptions end. */
  detach(held: Holdings): void {
    for (const n of held.notifiers.values()) this.drop(n);
    held.notifiers.clear(); // out of the broker-wide count (maxWaitersTotal)
  }

  private drop(n: Notifier): void {
    if (this.host.cluster) return this.host.cluster.removeNotifier(n);
    const space = this.spaces.get(n.space);
    if (!space) return;
    space.removeNotifier(n);
    this.host.release(space);
  }
}

/** Sends a notify subscription its event: numbered in the subscription's order, the tuple in the connection's codec. */
export function sendEvent(n: Notifier, type: SpaceEventType, t: StoredTuple): void {
  const frame: EventFrame = { t: 'event', nid: n.nid, seq: ++n.seq, type, tid: t.tid, tuple: outbound(n.conn, t.values) };
  if (t.hdr !== undefined) frame.hdr = t.hdr;
  n.conn.sendEvent(frame);
}
