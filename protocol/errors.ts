/**
 * Every error code Linden uses, broker and client side, in one table.
 * protocol.md repeats this table; test/protocol-doc.test.ts fails when they drift apart.
 */
export const ERROR_CODES = {
  // Sent by the broker in `err` frames.
  DECODE_ERROR: { origin: 'broker', message: 'the frame is not valid for the negotiated codec (MessagePack or JSON)' },
  UNKNOWN_FRAME_TYPE: { origin: 'broker', message: 'the message has a type (`t`) this protocol version does not define' },
  INVALID_FRAME: { origin: 'broker', message: 'a field is missing, unexpected or of the wrong type' },
  HANDSHAKE_REQUIRED: { origin: 'broker', message: 'the first message on a connection must be `hello`' },
  UNSUPPORTED_VERSION: { origin: 'broker', message: 'the broker does not speak the protocol version asked for in `hello`' },
  UNKNOWN_ID: { origin: 'broker', message: 'the message refers to a subscription id or delivery tag the broker does not know' },
  DUPLICATE_ID: { origin: 'broker', message: 'a subscription id is already in use on this connection' },
  INVALID_TOPIC: { origin: 'broker', message: 'the topic is not a valid publish topic' },
  INVALID_PATTERN: { origin: 'broker', message: 'the subscription pattern is not valid' },
  TOO_MANY_SUBSCRIPTIONS: { origin: 'broker', message: 'the connection reached its subscription limit (maxSubscriptions), or all connections together reached the broker\'s (maxSubscriptionsTotal)' },
  MESSAGE_TOO_LARGE: { origin: 'broker', message: 'the payload exceeds maxMessageBytes' },
  BATCH_FAILED: { origin: 'broker', message: 'a step of an atomic batch found no matching tuple; the space was left unchanged' },
  SPACE_FULL: { origin: 'broker', message: 'the space holds maxTuplesPerSpace tuples, or the tuples of all spaces would pass maxSpaceBytesTotal bytes; the tuple was not written' },
  TOO_MANY_WAITERS: { origin: 'broker', message: 'the connection has maxWaitersPerConnection blocked in/rd requests or notify subscriptions, or all connections together have maxWaitersTotal' },
  SPACE_MODE_CONFLICT: { origin: 'broker', message: 'an out or batch stated the other mode (persistent or transient) than that of a space holding tuples; an empty space takes the stated mode' },
  QUEUE_FULL: { origin: 'broker', message: 'a durable subscription with overflow "reject" is at maxMessages or maxBytes; the message was not stored anywhere' },
  STORE_FULL: { origin: 'broker', message: 'the broker\'s store is at maxStoreBytes or its disk is full; nothing was stored, and transient traffic goes on' },
  STORE_UNAVAILABLE: { origin: 'broker', message: 'cluster mode: the broker cannot reach its Redis (or the replicas asked for did not confirm); nothing was stored, and transient traffic goes on' },
  QUEUE_CONFLICT: { origin: 'broker', message: 'a durable subscription of that name exists with another pattern or other settings' },
  NOT_FOUND: { origin: 'broker', message: 'the named queue, stream, space or connection does not exist' },
  STREAM_FULL: { origin: 'broker', message: 'a stream with discard "new" is at maxMessages or maxBytes, or the message is larger than a stream\'s maxBytes; the message was not stored anywhere' },
  STREAM_CONFLICT: { origin: 'broker', message: 'a stream of that name exists with another pattern, is being deleted, or the broker holds its most streams' },
  STREAM_READER_MOVED: { origin: 'broker', message: 'a newer subscription took over this named stream reader; this subscription ended' },
  FRAGMENT_OUT_OF_ORDER: { origin: 'broker', message: 'a fragment arrived before an earlier one of its message (one is missing or they were reordered), or without the first' },
  FRAGMENT_DUPLICATE: { origin: 'broker', message: 'a fragment of a message arrived twice' },
  FRAGMENT_TOTAL_MISMATCH: { origin: 'broker', message: 'fragments of one message disagree on their count, or carry more or fewer bytes than the first announced' },
  FRAGMENT_TIMEOUT: { origin: 'broker', message: 'a fragmented message was not complete within the assembly timeout' },
  FRAGMENT_LIMIT: { origin: 'broker', message: 'a fragmented message would go over a reassembly limit: messages incomplete at once on the connection, or bytes held by the connection, its address or all connections' },
  NO_RESPONDERS: { origin: 'broker', message: 'a request matched no subscriber' },
  TOO_MANY_ERRORS: { origin: 'broker', message: 'the messages of one frame got 100 errors; the rest of the frame was skipped' },
  INTERNAL_ERROR: { origin: 'broker', message: 'the broker failed to handle the message; it stays up and the connection stays open' },
  SLOW_CONSUMER: { origin: 'broker', message: 'messages to this connection were dropped because its outbound buffer was full' },
  INVALID_TEMPLATE: { origin: 'broker', message: 'a tuple-space template is not valid (unknown or misused operator, unsafe regex, limit exceeded)' },
  INVALID_TUPLE: { origin: 'broker', message: 'a tuple is not valid (empty, not plain values such as a Date, too many fields, or too deep)' },
  AUTH_FAILED: { origin: 'broker', message: 'the credentials in `hello` were missing, unknown or wrong; the broker closes the connection' },
  PERMISSION_DENIED: { origin: 'broker', message: 'the connection\'s user may not do this operation on this subject; the connection stays open' },
  SCHEDULE_FULL: { origin: 'broker', message: 'the broker holds maxScheduled scheduled messages and tuples, or maxScheduledBytes of them; nothing was scheduled' },
  SCHEDULE_TOO_FAR: { origin: 'broker', message: 'the due time of a scheduled publish or out (`delay`, `deliverAt`) is more than the broker\'s maxScheduleDelayMs away; nothing was scheduled' },
  NOT_SCHEDULED: { origin: 'broker', message: '`unschedule` named no pending scheduled message or tuple: unknown, cancelled, or already due and delivered' },
  SCHEDULE_UNSUPPORTED: { origin: 'broker', message: 'cluster mode (`redis`): a persistent scheduled publish or out answers at submission only, not with ack delivery or processing; nothing was scheduled' },
  DRAINING: { origin: 'broker', message: 'the broker is draining before it stops: it takes no new publishes or tuples; send them to another broker' },
  RETAINED_FULL: { origin: 'broker', message: 'a publish with `retain` would take the broker past maxRetainedTopics or maxRetainedBytes; the message was neither retained nor delivered' },
  RETAIN_UNSUPPORTED: { origin: 'broker', message: 'cluster mode (`redis`): a `pub` with `retain` must be transient and wait for `submission` at most' },
  // Raised by the client SDK (or by startBroker) without a frame from the broker.
  TIMEOUT: { origin: 'client', message: 'the operation did not complete within its timeout' },
  DISCONNECTED: { origin: 'client', message: 'the connection was lost before the operation completed' },
  CLOSED: { origin: 'client', message: 'the client was closed' },
  REJECTED: { origin: 'client', message: 'every receiver of a request rejected it (nack) without a reply' },
  BUFFER_FULL: { origin: 'client', message: 'the send buffer for disconnected periods is full' },
  CONNECTION_REFUSED: { origin: 'client', message: 'the broker refused or closed the connection during the handshake' },
  INVALID_ARGUMENT: { origin: 'client', message: 'an argument to an SDK call is invalid' },
  INVALID_OPTIONS: { origin: 'client', message: 'options passed to connect() or startBroker() are invalid' },
  DATA_DIR_LOCKED: { origin: 'client', message: 'startBroker(): another running broker holds the data folder (its pid is in the message)' },
} as const satisfies Record<string, { origin: 'broker' | 'client'; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** WebSocket close codes the broker uses; 1000-1011 keep their RFC 6455 meaning. */
export const CLOSE_CODES = {
  NORMAL: { code: 1000, meaning: 'normal closure (client or broker closed on purpose)' },
  GOING_AWAY: { code: 1001, meaning: 'the broker is shutting down' },
  MESSAGE_TOO_BIG: { code: 1009, meaning: 'a WebSocket frame exceeded maxFrameBytes' },
  HANDSHAKE_REQUIRED: { code: 4001, meaning: 'the first message was not `hello`' },
  UNSUPPORTED_SUBPROTOCOL: { code: 4002, meaning: 'the client offered no WebSocket subprotocol the broker speaks' },
  UNSUPPORTED_VERSION: { code: 4003, meaning: '`hello` asked for a protocol version the broker does not speak' },
  HANDSHAKE_TIMEOUT: { code: 4004, meaning: 'no `hello` arrived within handshakeTimeoutMs' },
  HEARTBEAT_TIMEOUT: { code: 4005, meaning: 'sent by the client SDK when the broker stopped answering pings (the broker terminates silent peers without a close frame: 1006)' },
  // Admin operations (protocol.md §17).
  KICKED: { code: 4006, meaning: 'an operator closed the connection with the admin operation `kick`' },
  // Flow control (protocol.md §11).
  SLOW_CONSUMER: { code: 4007, meaning: 'the connection reads too slowly for what it subscribed to: its outbound bytes stayed over maxPendingBytes with none taken for writeDeadlineMs, or tuple-space events to it passed 4 × maxPendingBytes unsent' },
  // Security (protocol.md §4.7).
  AUTH_FAILED: { code: 4008, meaning: '`hello` did not log in: the credentials were missing, unknown or wrong' },
  // Global limits (protocol.md §1.7).
  TOO_MANY_CONNECTIONS: { code: 4009, meaning: 'the broker has maxConnections connections open, or maxConnectionsPerAddress from the client\'s address; the new one is closed at once' },
} as const;

/** The one error class of Linden; `code` is stable and documented in protocol.md. */
export class LindenError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'LindenError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** INVALID_FRAME for a field of a message of type `t` whose value breaks a rule the schema cannot state. */
export function invalidField(t: string, field: string, problem: string): LindenError {
  return new LindenError('INVALID_FRAME', `invalid "${t}" message: field "${field}" ${problem}`, { t, field });
}
