/** How long an acked durable delivery is remembered, and how many at most. */
const REMEMBER_MS = 5 * 60_000;
const REMEMBER_MAX = 10_000;

/**
 * Durable deliveries the application has acked, by subscription and message id, so that the
 * broker's redelivery of one of them is recognised as a duplicate (README "Duplicates after a
 * reconnect"). The broker redelivers a message whose ack it did not get: the ack was lost with
 * the connection, or was given after the connection had gone, or came after `ackWait`. Such a
 * redelivery has a delivery count above 1 and the same `mid` (protocol.md §9.4), and the
 * application has already processed it: the client acks it again itself instead of handing it
 * over. A first delivery (`dc: 1`) is never suppressed, nor a message not yet acked.
 *
 * A `mid` names one stored message (the broker's are unique; a publisher's is deduplicated,
 * §9.7): remembering for minutes, not forever, keeps a publisher that reuses its own ids much
 * later from having a new message taken for an old one.
 */
export class AckedDeliveries {
  /** `sid` and `mid` → when the memory of the ack expires; in insertion order, oldest first. */
  private readonly acked = new Map<string, number>();

  remember(sid: number, mid: string): void {
    const key = `${sid} ${mid}`;
    this.acked.delete(key);
    this.acked.set(key, Date.now() + REMEMBER_MS);
    this.forgetOld();
  }

  /** Whether a delivery of `mid` to subscription `sid` with delivery count `dc` is one the application acked; forgets it then. */
  isDuplicate(sid: number, mid: string, dc: number | undefined): boolean {
    if (dc === undefined || dc < 2) return false;
    const key = `${sid} ${mid}`;
    const until = this.acked.get(key);
    if (until === undefined) return false;
    this.acked.delete(key);
    return until > Date.now();
  }

  private forgetOld(): void {
    const now = Date.now();
    for (const [key, until] of this.acked) {
      if (this.acked.size <= REMEMBER_MAX && until > now) break;
      this.acked.delete(key);
    }
  }
}
