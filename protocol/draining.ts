/**
 * The messages a draining broker refuses with DRAINING (protocol.md §1.6): those that would
 * bring it new messages or tuples. Everything else (acks, reads, takes, unsubscribes) it still
 * serves, so clients can finish what they hold. The SDK holds these back for the next broker.
 */
export function refusedWhileDraining(frame: object): boolean {
  const t = (frame as { t?: unknown }).t;
  if (t === 'pub' || t === 'out') return true;
  if (t !== 'batch') return false;
  const steps = (frame as { steps?: Array<{ op?: unknown }> }).steps;
  return Array.isArray(steps) && steps.some((s) => s.op === 'out');
}
