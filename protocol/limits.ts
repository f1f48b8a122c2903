/**
 * The ceilings of what a client may send (protocol.md §4.6). The frame schemas (frames.ts) are
 * built from these, so a value beyond one is refused with INVALID_FRAME before it reaches a
 * timer, a map or a buffer; test/protocol-doc.test.ts checks the table of §4.6 against them.
 */

/** uint: ids, delivery tags, fragment numbers. */
export const MAX_UINT = 4_294_967_295;

/** A uint of the protocol: an integer from 0 to MAX_UINT. */
export function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_UINT;
}

/**
 * The longest duration, in ms, a client may ask for: timeouts, ttls, ackWait, nack delay,
 * reserve. 24 days: below 2^31 ms, the longest delay a JavaScript timer takes (a longer one fires
 * after 1 ms), with room for the SDK's grace second on top. Broker options in ms share it.
 */
export const MAX_DURATION_MS = 24 * 24 * 3600 * 1000;

/**
 * Scheduled delivery (`delay`, protocol.md §9.10): one year. Beyond 2^31 ms on purpose: no timer
 * gets it, the scheduler's one timer re-arms until the due time. The broker's
 * maxScheduleDelayMs (default 30 days) is usually lower.
 */
export const MAX_SCHEDULE_DELAY_MS = 365 * 24 * 3600 * 1000;
/** `deliverAt`: the last ms a JavaScript Date can hold. */
export const MAX_DELIVER_AT = 8_640_000_000_000_000;

/** Space, queue, group, client and connection names. */
export const MAX_NAME_LENGTH = 128;
/** A publisher's message id (`mid`). */
export const MAX_MESSAGE_ID_LENGTH = 128;
/** Why a delivery was refused (`nack` `reason`). */
export const MAX_REASON_LENGTH = 1024;
/** Delivery tags one `rcv` confirms. */
export const MAX_TAGS_PER_RCV = 65_536;
/** Steps of one atomic `batch`. */
export const MAX_BATCH_STEPS = 1024;
/** Tuples one `in`/`rd` with `limit` takes or reads. */
export const MAX_READ_LIMIT = 100_000;
/** Tuple and reservation ids are short strings the broker makes (`2s`, `2y.0`). */
export const MAX_TUPLE_ID_LENGTH = 64;
/** Fields of a tuple or template; the broker option maxArity (default 64) may allow fewer. */
export const MAX_ARITY = 1024;
/** Settings of a durable subscription. */
export const MAX_IN_FLIGHT = 1_000_000;
export const MAX_DELIVERIES = 1_000_000;
export const MAX_QUEUE_MESSAGES = 1_000_000_000;
/** 1 TiB. */
export const MAX_QUEUE_BYTES = 2 ** 40;
/** Extensions in `hello.ext`, and settings of one extension; the length of their names. */
export const MAX_EXTENSIONS = 32;
export const MAX_EXTENSION_NAME_LENGTH = 64;

/** Longest password or token in `hello.auth`: far beyond any real one, short enough to hash at once. */
export const MAX_SECRET_LENGTH = 1024;
/** Longest JWT in `hello.auth`: room for a large permissions claim. */
export const MAX_JWT_LENGTH = 16_384;

/** A client's `hello.session` id (protocol.md §4.8): the SDK's is 22 characters; room for a UUID or more. */
export const MAX_SESSION_LENGTH = 64;

/** A stream's maxAge: ten years (the sweep's timer re-arms below 2^31 ms, so this reaches no timer whole). */
export const MAX_STREAM_AGE_MS = 10 * 365 * 24 * 3600 * 1000;
/** A stream seq (`start.seq`): the largest integer a double holds exactly. */
export const MAX_STREAM_SEQ = Number.MAX_SAFE_INTEGER;
/** An append time (`start.time`), ms since the epoch: the last instant a Date holds. */
export const MAX_STREAM_TIME = 8_640_000_000_000_000;
