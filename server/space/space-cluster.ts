import { LindenError } from '../../protocol/errors.js';
import type { CancelFrame, CountFrame, OutFrame, ReadFrame, RenewFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { Notifier } from './space.js';
import type { Waiter } from './waiters.js';

/**
 * Cluster mode (DESIGN.md §5): the spaces shared by every node, kept elsewhere (Redis; see
 * server/cluster/cluster-spaces.ts). SpaceCore hands these frames over when it has one, and
 * refuses the operations that do not work across nodes yet with CLUSTER_UNSUPPORTED.
 */
export interface SpaceCluster {
  out(conn: Connection, f: OutFrame): void;
  read(conn: Connection, f: ReadFrame): void;
  count(conn: Connection, f: CountFrame): void;
  renew(conn: Connection, f: RenewFrame): void;
  cancel(conn: Connection, f: CancelFrame): void;
  /** Ends a reservation: `ok` takes the tuple for good, otherwise it goes back. False when it was over already. */
  settle(space: string, rid: string, ok: boolean): Promise<boolean>;
  /** Resolves once the subscription gets the events of every node. */
  addNotifier(n: Notifier): Promise<void>;
  removeNotifier(n: Notifier): void;
  /** A waiter of this node ended here (timeout, abort, its connection gone): off the cluster's list. */
  dropWaiter(w: Waiter): void;
}

export function clusterUnsupported(what: string): LindenError {
  return new LindenError('CLUSTER_UNSUPPORTED', `${what} does not work in cluster mode yet (see "Running a cluster")`, { op: what });
}
