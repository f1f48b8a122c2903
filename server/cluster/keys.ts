/*
 * Names in Redis. The control plane (the node registry, each node's interest, the notification
 * channel) shares the hash tag `{linden}`, so its Lua scripts touch one slot even on a Redis
 * Cluster; each node's data channel is tagged with the node's id, so the data spreads over shards.
 */

/** Sorted set: node id -> when its interest expires (Redis clock, ms). */
export const NODES_KEY = '{linden}:nodes';

/** Hash of one node: interest key -> local subscriptions holding it; `#seq` counts its changes. */
export function interestKey(node: string): string {
  return `{linden}:interest:${node}`;
}

/** String of one node: its NodeSummary in JSON (node-summary.ts), expiring as its registration does. */
export function summaryKey(node: string): string {
  return `{linden}:summary:${node}`;
}

/**
 * Sorted set: `<reservation id> <space>` -> when the reservation ends (ms), for every space. Added
 * before the reservation is taken and removed after it is over, so a reservation whose node
 * died is always found here: whichever node sweeps it when its time is up puts the tuple back.
 */
export const RESERVATIONS_KEY = '{linden}:reservations';

/** Sorted set: tuple space name -> when a node last used it (Redis clock, ms), for the admin views (space-registry.ts). */
export const SPACES_KEY = '{linden}:spaces';

/** Sharded channel announcing interest changes: `<seq> <node> <changes JSON>`, `<seq> <node> *` (reload) or `0 <node> -` (gone). */
export const INTEREST_CHANNEL = '{linden}:interest';

/** Sharded channel of one node: messages for its subscribers, reports and events for its publishers. */
export function nodeChannel(node: string): string {
  return `linden:node:{${node}}`;
}

/** How often a node renews its registration; a node silent for NODE_TTL_MS is dead and its interest forgotten. */
export const HEARTBEAT_MS = 500;
export const NODE_TTL_MS = 2_000;

/** Interest key of plain subscriptions with a pattern. */
export function plainInterest(pattern: string): string {
  return 'p' + pattern;
}

/** Interest key of a queue group's members with a pattern (router's group key behind a `g`). */
export function groupInterest(key: string): string {
  return 'g' + key;
}

/**
 * Sorted set: `<tid> <space>` -> when the offer of a hidden tuple to the waiters is due to have
 * ended (ms). Added by the script that hides the tuple, removed by the one that shows it or
 * claims it for an `in`; whichever node sweeps a due one offers the tuple again (its writer died).
 */
export const OFFERS_KEY = '{linden}:offers';

/** Sorted set: space -> its next lease end (ms), so that some node sweeps expired tuples of every space. */
export const LEASES_KEY = '{linden}:leases';

/** String: bytes of the tuple records of all spaces (maxSpaceBytesTotal across the cluster). */
export const SPACE_BYTES_KEY = '{linden}:space-bytes';

/**
 * How long a tuple handed to a waiter's node stays claimed before the sweep puts it back: the
 * node ends the claim once its client has the tuple, so only a node that died leaves it to run out.
 */
export const HANDOFF_MS = NODE_TTL_MS;
