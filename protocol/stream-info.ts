/** A named reader: where it stands and how far behind the stream's end. */
export interface ReaderInfo {
  name: string;
  /** Every seq below is acknowledged. */
  position: number;
  /** Messages from its position to the end of the stream. */
  lag: number;
  connected: boolean;
  /** Deliveries waiting for an ack (attached readers). */
  unacked: number;
}

/** What `stream info` shows (SDK streamInfo, admin op `stream`, GET /api/streams/<name>, `linden stream info`). */
export interface StreamInfo {
  name: string;
  pattern: string;
  config: { maxAge: number; maxMessages: number; maxBytes: number; discard: 'old' | 'new' };
  createdAt: number;
  /** Seq of the oldest message kept (lastSeq + 1 when empty). */
  firstSeq: number;
  /** Seq of the newest message (firstSeq - 1 when empty). */
  lastSeq: number;
  messages: number;
  bytes: number;
  /** Append time of the oldest message kept, or null. */
  firstTime: number | null;
  readers: ReaderInfo[];
  /** Subscriptions reading it without a reader name. */
  subscribers: number;
}

