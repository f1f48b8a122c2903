/**
 * The bookkeeping of the durable crash test: what publishers were told was stored, what the
 * consumer saw and acked, and what a consumer drained after a restart; then what of that breaks
 * the persistent-delivery promise. Kept apart from the test so the rules read in one place.
 *
 * A consumer's ack goes through three states, because the protocol does not confirm acks:
 *   sent       msg.ack() was called; the frame may not have reached the broker;
 *   handled    a ping sent after it came back, so the broker has processed the ack;
 *   committed  a persistent publish made after that round trip was acknowledged by the same
 *              broker process. The Store commits writes in order, so the ack's removal of the
 *              message is on disk too.
 * Only a redelivery of a committed ack breaks the promise; the others are duplicates that
 * at-least-once delivery allows, counted separately so the test can report them.
 */

/** A published message body: publisher id and its sequence number. */
export interface Body {
  p: string;
  n: number;
}

type AckState = 'sent' | 'handled' | 'committed';

export interface DrainReport {
  drained: number;
  /** Delivered again after the crash though delivered before it, by the consumer's ack state then. */
  duplicates: { unacked: number; ackSent: number; ackHandled: number };
  /** Stored and delivered, though the publisher got no receipt before the crash (allowed). */
  storedWithoutReceipt: number;
  violations: string[];
}

export const keyOf = (b: Body): string => `${b.p}:${b.n}`;

export class CrashLedger {
  /** Publishes called so far; a publish's ordinal orders it against ack round trips. */
  private ordinal = 0;
  private readonly published = new Set<string>();
  private readonly stored = new Set<string>();
  private readonly delivered = new Set<string>();
  private readonly acks = new Map<string, AckState>();
  /** Handled acks waiting for a later publish's receipt, in the order their round trips returned. */
  private readonly uncommitted: Array<{ after: number; keys: string[] }> = [];

  /** Before calling publish(); returns the ordinal to hand to receipted(). */
  publishing(body: Body): number {
    this.published.add(keyOf(body));
    return ++this.ordinal;
  }

  /** The broker acknowledged the publish: it promised the message is stored. */
  receipted(body: Body, ordinal: number): void {
    this.stored.add(keyOf(body));
    // Every write the broker made before this publish arrived is committed now.
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.after < ordinal) {
      for (const key of this.uncommitted.shift()!.keys) this.acks.set(key, 'committed');
    }
  }

  get receiptCount(): number {
    return this.stored.size;
  }

  /** The live consumer got a message (before any crash that follows). */
  deliveredLive(body: Body): void {
    this.delivered.add(keyOf(body));
  }

  ackSent(body: Body): void {
    if (!this.acks.has(keyOf(body))) this.acks.set(keyOf(body), 'sent');
  }

  /** A ping round trip that left after these acks came back: the broker has processed them. */
  acksHandled(keys: string[]): void {
    for (const key of keys) if (this.acks.get(key) === 'sent') this.acks.set(key, 'handled');
    // A publish called from now on reaches the broker after the acks did.
    this.uncommitted.push({ after: this.ordinal, keys });
  }

  /** The broker died: a receipt from its successor says nothing about writes it never committed. */
  crashed(): void {
    this.uncommitted.length = 0;
  }

  /**
   * Checks what a consumer drained from a restarted broker (every message the queue held, in
   * delivery order) and records it as delivered; the caller acks it all.
   */
  drained(bodies: Body[]): DrainReport {
    const report: DrainReport = { drained: bodies.length, duplicates: { unacked: 0, ackSent: 0, ackHandled: 0 }, storedWithoutReceipt: 0, violations: [] };
    const seen = new Set<string>();
    report.violations.push(...orderViolations(bodies, 'after the restart'));
    for (const b of bodies) {
      const key = keyOf(b);
      if (!this.published.has(key)) report.violations.push(`drained ${key}, which nobody published`);
      if (seen.has(key)) report.violations.push(`drained ${key} twice from one restarted broker`);
      seen.add(key);
      if (this.delivered.has(key)) {
        const ack = this.acks.get(key);
        if (ack === 'committed') report.violations.push(`${key} was redelivered after a crash though its ack was committed`);
        else if (ack === 'handled') report.duplicates.ackHandled++;
        else if (ack === 'sent') report.duplicates.ackSent++;
        else report.duplicates.unacked++;
      } else if (!this.stored.has(key)) {
        report.storedWithoutReceipt++;
      }
    }
    for (const key of this.stored) {
      if (!seen.has(key) && !(this.delivered.has(key) && this.acks.has(key))) {
        report.violations.push(`${key} was acknowledged to its publisher but is lost: neither acked by the consumer before the crash nor drained after it`);
      }
    }
    for (const key of seen) this.delivered.add(key);
    return report;
  }
}

/** Checks one publisher's messages arrive in the order it published them; returns the problems. */
export function orderViolations(bodies: Body[], what: string): string[] {
  const lastOf = new Map<string, number>();
  const problems: string[] = [];
  for (const b of bodies) {
    const last = lastOf.get(b.p);
    if (last !== undefined && b.n <= last) problems.push(`${what}: publisher ${b.p} delivered ${b.n} after ${last}`);
    lastOf.set(b.p, b.n);
  }
  return problems;
}
