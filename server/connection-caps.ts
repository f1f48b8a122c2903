/**
 * `maxConnections` and `maxConnectionsPerAddress`: the broker's connections counted in all and
 * per remote address, and why a new one is refused.
 */
export class ConnectionCaps {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** Connections refused so far, by the limit they met (linden_connections_refused_total). */
  readonly refused = { maxConnections: 0, maxConnectionsPerAddress: 0 };

  constructor(private readonly maxTotal: number, private readonly maxPerAddress: number) {}

  /**
   * Counts a connection from `address`, or returns why it is refused: the close reason of 4009
   * (protocol.md §1.7), well under the 123 bytes a close reason may have.
   */
  admit(address: string): string | undefined {
    if (this.total >= this.maxTotal) {
      this.refused.maxConnections++;
      return `broker full: ${this.maxTotal} connections (maxConnections); try again later`;
    }
    const from = this.perAddress.get(address) ?? 0;
    if (from >= this.maxPerAddress) {
      this.refused.maxConnectionsPerAddress++;
      return `${from} connections from ${address.slice(0, 48)} already (maxConnectionsPerAddress); try again later`;
    }
    this.total++;
    this.perAddress.set(address, from + 1);
    return undefined;
  }

  /** A connection admitted from `address` is gone. */
  release(address: string): void {
    const from = this.perAddress.get(address);
    if (from === undefined) return;
    this.total--;
    if (from > 1) this.perAddress.set(address, from - 1);
    else this.perAddress.delete(address);
  }
}
