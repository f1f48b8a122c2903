import type { BatchFrame, CancelFrame, CountFrame, OutFrame, ReadFrame, RenewFrame } from '../../protocol/frames.js';
import type { Connection } from '../connection.js';
import type { BatchStep, Notifier } from './space.js';
import type { Waiter } from './waiters.js';

/**
 * Cluster mode (DESIGN.md §5): the spaces shared by every node, kept elsewhere (Redis; see
 * server/cluster/cluster-spaces.ts). SpaceCore hands these frames over when it has one.
 */
export interface SpaceCluster {
  out(conn: Connection, f: OutFrame): void;
  read(conn: Connection, f: ReadFrame): void;
  count(conn: Connection, f: CountFrame): void;
  renew(conn: Connection, f: RenewFrame): void;
  cancel(conn: Connection, f: CancelFrame): void;
  /** Runs a batch whose steps are validated already (SpaceAdmission.batchSteps). */
  batch(conn: Connection, f: BatchFrame, steps: BatchStep[]): void;
  /** Ends a reservation: `ok` takes the tuple for good, otherwise it goes back. False when it was over already. */
  settle(space: string, rid: string, ok: boolean): Promise<boolean>;
  /** Resolves once the subscription gets the events of every node. */
  addNotifier(n: Notifier): Promise<void>;
  removeNotifier(n: Notifier): void;
  /** A waiter of this node ended here (timeout, abort, its connection gone): off the cluster's list. */
  dropWaiter(w: Waiter): void;
}
