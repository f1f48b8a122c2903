import { LindenError } from '../protocol/errors.js';

/** The brokers a client may connect to, tried in turn (round-robin) after a lost connection or a drain. */
export class ServerList {
  private readonly urls: readonly string[];
  private index = 0;

  constructor(servers: string | readonly string[]) {
    const urls = typeof servers === 'string' ? [servers] : servers;
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && u.length > 0)) {
      throw new LindenError('INVALID_OPTIONS', 'connect() takes a broker URL or a non-empty list of them');
    }
    this.urls = [...new Set(urls)];
  }

  get current(): string {
    return this.urls[this.index]!;
  }

  get size(): number {
    return this.urls.length;
  }

  /** On to the next broker of the list (the same one when there is only one). */
  advance(): void {
    this.index = (this.index + 1) % this.urls.length;
  }
}
