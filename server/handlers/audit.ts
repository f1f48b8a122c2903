import type { BrokerContext } from '../broker-context.js';
import type { Connection } from '../connection.js';

/** The operations that change the broker on a client's say-so, and the message of their log line. */
const MESSAGES = {
  purge: 'queue purged',
  retry: 'dead letters moved back',
  kick: 'connection kicked',
  qdelete: 'queue deleted',
  sdelete: 'stream deleted',
} as const;

export type AuditedAction = keyof typeof MESSAGES;

/**
 * Logs, at info, an operation that dropped messages or people: which connection asked (`conn`,
 * and `client`, the name it gave in `hello`), what it targeted and what came of it. With a store
 * write pending, the line waits for it, so it never reports a change that was not kept; a failed
 * write is logged at error instead. These are rare operator actions, never on a message's path.
 */
export function audit(
  ctx: BrokerContext,
  conn: Connection,
  action: AuditedAction,
  details: Record<string, unknown>,
  durable?: Promise<void>,
): void {
  const entry = { action, conn: conn.id, client: conn.name, ...details };
  if (!durable) {
    ctx.log.info(entry, MESSAGES[action]);
    return;
  }
  durable.then(
    () => ctx.log.info(entry, MESSAGES[action]),
    (err: unknown) => ctx.log.error({ ...entry, err }, `${MESSAGES[action]} in memory, but the store write failed`),
  );
}
