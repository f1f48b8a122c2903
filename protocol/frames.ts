/**
 * Message types of protocol v1 and their JSON schemas. A WebSocket frame carries one message
 * object or an array of them; every message names its type in `t`.
 */
import { HEADERS_SCHEMA, type Headers } from './headers.js';
import {
  MAX_ARITY, MAX_BATCH_STEPS, MAX_DELIVERIES, MAX_DURATION_MS, MAX_EXTENSION_NAME_LENGTH, MAX_EXTENSIONS, MAX_IN_FLIGHT,
  MAX_MESSAGE_ID_LENGTH, MAX_NAME_LENGTH, MAX_QUEUE_BYTES, MAX_QUEUE_MESSAGES, MAX_READ_LIMIT, MAX_REASON_LENGTH,
  MAX_JWT_LENGTH, MAX_SECRET_LENGTH, MAX_SESSION_LENGTH, MAX_SCHEDULE_DELAY_MS, MAX_DELIVER_AT, MAX_TAGS_PER_RCV, MAX_TUPLE_ID_LENGTH, MAX_UINT,
} from './limits.js';
import { MAX_TOPIC_LENGTH } from './topics.js';
import { NAME_PATTERN } from './names.js';
import { MAX_STREAM_AGE_MS, MAX_STREAM_SEQ, MAX_STREAM_TIME } from './limits.js';

export type { Headers } from './headers.js';
export const ACK_LEVELS = ['none', 'submission', 'delivery', 'processing'] as const;
export type AckLevel = (typeof ACK_LEVELS)[number];

/** Placeholder for the payload: MessagePack `bin` (msgpack codec) or any JSON value (JSON codec). */
export type Payload = unknown;
export const DELIVERY_MODES = ['transient', 'persistent'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

// ---- client -> broker ----
/** `ext`: settings of the interceptors a side runs, by name (protocol.md §4), e.g. `{ fragmentation: { size: 65536 } }`. */
export type Extensions = Record<string, Record<string, unknown>>;
/** Credentials for a broker with users (protocol.md §4.7): one of the three forms. */
export type HelloAuth = { user: string; password: string } | { token: string } | { jwt: string };
/**
 * A last will (protocol.md §4.8): published by the broker, as a `pub` of the client's would be, when
 * the connection ends without a clean close; with `delay`, only if the same client (`hello.session`)
 * has not come back by then. An object, so later options (retain) are fields of it.
 */
export interface WillFrame {
  topic: string; data: Payload; mode?: DeliveryMode; delay?: number;
  /** Published with `retain` (§7.4): the topic's retained message then says the client is gone. */
  retain?: boolean;
}
export interface HelloFrame {
  t: 'hello'; id: number; v: number; name?: string; ext?: Extensions; auth?: HelloAuth;
  will?: WillFrame;
  /** The client's own id, the same in every `hello` of one client: how the broker knows it came back (§4.8). */
  session?: string;
}
export interface PingFrame { t: 'ping'; id: number }
export interface PongFrame { t: 'pong'; re: number }
export const OVERFLOW_POLICIES = ['reject', 'drop-oldest'] as const;
/** Settings of a durable subscription (a queue); absent ones keep their current or default value. */
export interface QueueSettings {
  ackWait?: number; maxInFlight?: number; maxDeliveries?: number;
  maxMessages?: number; maxBytes?: number; overflow?: (typeof OVERFLOW_POLICIES)[number];
}

/** Where a stream subscription starts reading (protocol.md §9.11): its first message, its last, the next one appended, a seq or an append time. */
export type StreamStart = 'first' | 'last' | 'new' | { seq: number } | { time: number };
export interface SubFrame extends QueueSettings {
  t: 'sub'; id: number; sid: number; pattern: string; group?: string; durable?: string;
  /** Read this replayable stream (protocol.md §9.11) from `start`, then follow it; `reader` names a reader whose position the broker keeps. */
  stream?: string; start?: StreamStart; reader?: string;
  /** Deliver the retained messages on topics the pattern matches first (protocol.md §6.3, §7.4). */
  retained?: boolean;
}
export interface UnsubFrame { t: 'unsub'; id: number; sid: number }
export interface PubFrame {
  t: 'pub'; topic: string; data: Payload;
  id?: number; ack?: AckLevel; timeout?: number; mid?: string; reply?: boolean; mode?: DeliveryMode; ttl?: number;
  /** Headers (protocol/headers.ts), passed on untouched in every `msg` of this message. */
  hdr?: Headers;
  /** Keep it as the topic's retained message; an empty payload clears it (protocol.md §7.4). */
  retain?: boolean;
  /** Scheduled delivery (protocol.md §9.10): routed this many ms from now, or at `deliverAt` (ms since the epoch); not both. */
  delay?: number; deliverAt?: number;
}
export interface RcvFrame { t: 'rcv'; tags: number[] }
export interface AckFrame { t: 'ack'; tag: number; data?: Payload }
export interface NackFrame { t: 'nack'; tag: number; reason?: string; delay?: number }
export interface WorkingFrame { t: 'working'; tag: number }
export interface QueueCreateFrame extends QueueSettings { t: 'qcreate'; id: number; name: string; pattern: string }
export interface QueueDeleteFrame { t: 'qdelete'; id: number; name: string }
export const DISCARD_POLICIES = ['old', 'new'] as const;
/** Creates a replayable stream, or changes the limits of one (protocol.md §9.11); absent limits keep their value (none for a new stream). */
export interface StreamCreateFrame {
  t: 'screate'; id: number; name: string; pattern: string;
  maxAge?: number; maxMessages?: number; maxBytes?: number; discard?: (typeof DISCARD_POLICIES)[number];
}
export interface StreamDeleteFrame { t: 'sdelete'; id: number; name: string }
/** Cancels a scheduled publish or out by its id (`mid` of the receipt, `sched` of the lease): protocol.md §9.10. */
export interface UnscheduleFrame { t: 'unschedule'; id: number; sched: string }

// ---- tuple spaces, client -> broker (tuples and templates travel inline in both codecs) ----
export type SpaceEvent = 'out' | 'in' | 'expire';
/**
 * `persistent` (out and batch, the frames that add tuples): the mode the writer wants. It sets
 * the mode of an empty space; a space holding tuples of the other mode answers
 * SPACE_MODE_CONFLICT. Absent: the space's current mode (transient for a new space).
 */
export interface OutFrame {
  t: 'out'; space: string; tuple: unknown[]; id?: number; ttl?: number; ack?: AckLevel; timeout?: number; persistent?: boolean; hdr?: Headers;
  /** Scheduled delivery (protocol.md §9.10): the tuple enters the space this many ms from now, or at `deliverAt`. */
  delay?: number; deliverAt?: number;
}
export interface ReadFrame {
  t: 'in' | 'rd'; id: number; space: string; template: unknown[];
  wait?: boolean; timeout?: number; reserve?: number; limit?: number;
}
export interface CountFrame { t: 'count'; id: number; space: string; template: unknown[] }
export interface AbortFrame { t: 'abort'; id: number; target: number }
export interface NotifyFrame { t: 'notify'; id: number; nid: number; space: string; template: unknown[]; events?: SpaceEvent[] }
export interface UnnotifyFrame { t: 'unnotify'; id: number; nid: number }
export interface RenewFrame { t: 'renew'; id: number; space: string; tid: string; ttl: number }
export interface CancelFrame { t: 'cancel'; id: number; space: string; tid: string }
export type BatchStepFrame = { op: 'inp' | 'rdp'; template: unknown[] } | { op: 'out'; tuple: unknown[]; ttl?: number; hdr?: Headers };
export interface BatchFrame { t: 'batch'; id: number; space: string; steps: BatchStepFrame[]; persistent?: boolean }
export interface SettleFrame { t: 'settle'; id: number; rid: string; ok: boolean }

// ---- admin operations, client -> broker (protocol.md §6.21, §17) ----
/** What an `admin` message asks for; the views are those of the HTTP admin API. */
export const ADMIN_OPS = ['queues', 'queue', 'spaces', 'space', 'connections', 'subscriptions', 'cluster', 'purge', 'retry', 'kick', 'streams', 'stream'] as const;
export type AdminOp = (typeof ADMIN_OPS)[number];
/** Most ready messages or tuples one `peek` shows: enough to look at, not a dump. */
export const MAX_PEEK = 100;
/** `scope`: cluster mode, `connections` and `subscriptions` of every node (`cluster`, the default) or of the node asked only (`node`). */
export interface AdminFrame { t: 'admin'; id: number; op: AdminOp; name?: string; connection?: string; peek?: number; scope?: 'cluster' | 'node' }

/**
 * One piece of a message larger than the negotiated fragment size, in either direction
 * (protocol.md §2.3). The fragmentation interceptor absorbs them before validation; a broker
 * without it answers UNKNOWN_FRAME_TYPE.
 */
export interface FragFrame { t: 'frag'; fid: number; seq: number; n: number; size?: number; data: Payload; abort?: boolean }

export type ClientFrame =
  | FragFrame | HelloFrame | PingFrame | PongFrame | SubFrame | UnsubFrame | PubFrame | RcvFrame | AckFrame | NackFrame
  | WorkingFrame | QueueCreateFrame | QueueDeleteFrame | UnscheduleFrame | StreamCreateFrame | StreamDeleteFrame
  | OutFrame | ReadFrame | CountFrame | AbortFrame | NotifyFrame | UnnotifyFrame | RenewFrame | CancelFrame | BatchFrame | SettleFrame
  | AdminFrame;

// ---- broker -> client ----
export interface Limits {
  maxFrameBytes: number;
  maxMessageBytes: number;
  maxSubscriptions: number;
  maxPendingBytes: number;
  maxTopicLength: number;
  maxTimeoutMs: number;
}
export interface WelcomeFrame {
  t: 'welcome'; re: number; v: number; connectionId: string;
  server: { name: string; version: string }; limits: Limits; heartbeatMs: number; ext?: Extensions;
}
export interface OkFrame { t: 'ok'; re: number }
export interface ErrFrame { t: 'err'; re?: number; code: string; message: string; details?: Record<string, unknown> }
export interface MsgFrame {
  t: 'msg'; sid: number; topic: string; mid: string; data: Payload;
  tag?: number; ack?: 'delivery' | 'processing'; reply?: boolean;
  /** Durable deliveries: how many times this message has been delivered, this one included. */
  dc?: number;
  /** The publisher's headers, when it gave any. */
  hdr?: Headers;
  /** Stream deliveries (protocol.md §9.11): the message's seq in the stream and when it was appended (ms since the epoch). */
  seq?: number;
  time?: number;
  /** A retained message sent because the subscription asked for them (`sub` with `retained`), ahead of live ones. */
  retained?: boolean;
}
/** A receiver in a receipt: a subscription of a connection, or a durable subscription (`queue`) however many consumers it has. */
export interface ReceiverRef { connection?: string; sid?: number; group?: string; queue?: string; reason?: string }
export interface ReceiptFrame {
  t: 'receipt'; re: number; mid: string; stage: Exclude<AckLevel, 'none'>;
  receivers: number; delivered: number; processed: number; failed: number; dropped: number;
  timedOut: boolean; missing: ReceiverRef[]; rejected: ReceiverRef[]; data?: Payload;
  /** Persistent messages: the durable subscriptions that stored it. */
  queues?: string[];
  /** Persistent messages: the publisher's `mid` was seen within the dedupe window; nothing was stored again. */
  duplicate?: boolean;
  /** A scheduled publish (protocol.md §9.10): when it is routed, in ms since the epoch. */
  due?: number;
}
export interface WarnFrame { t: 'warn'; code: string; message: string; dropped?: number }
/** The broker is draining (protocol.md §1.6): it closes this connection within `ms` at the latest. */
export interface DrainFrame { t: 'drain'; ms: number }

// ---- tuple spaces, broker -> client ----
export interface LeaseFrame {
  t: 'lease'; re: number; tid: string; expiresAt: number | null; ttl: number | null; shortened: boolean;
  /** Only for an `out` with ack 'delivery' or 'processing': the stage waited for and whether a taker reached it. */
  stage?: 'delivery' | 'processing'; reached?: boolean; timedOut?: boolean;
  /** A scheduled out (protocol.md §9.10): its id, to cancel it with `unschedule`, and when the tuple enters the space. */
  sched?: string; due?: number;
}
/** `hdr` (here, in TupleFrame and in EventFrame): the writer's headers, when it gave any. */
export interface TupleEntry { tid: string; tuple: unknown[]; expiresAt: number | null; hdr?: Headers }
export interface TupleFrame { t: 'tuple'; re: number; tid?: string; tuple: unknown[] | null; expiresAt?: number | null; rid?: string; aborted?: boolean; hdr?: Headers }
export interface TuplesFrame { t: 'tuples'; re: number; items: TupleEntry[] }
export interface CountedFrame { t: 'counted'; re: number; count: number }
export interface EventFrame { t: 'event'; nid: number; seq: number; type: SpaceEvent; tid: string; tuple: unknown[]; hdr?: Headers }
export interface BatchedFrame { t: 'batched'; re: number; results: TupleEntry[] }

// ---- admin operations, broker -> client ----
/** The answer to an `admin` message with a result (every op but `kick`, answered with `ok`): plain JSON values in both codecs. */
export interface ReportFrame { t: 'report'; re: number; op: AdminOp; result: unknown }

export type BrokerFrame =
  | FragFrame | WelcomeFrame | PongFrame | OkFrame | ErrFrame | MsgFrame | ReceiptFrame | WarnFrame
  | LeaseFrame | TupleFrame | TuplesFrame | CountedFrame | EventFrame | BatchedFrame
  | ReportFrame | DrainFrame;

// ---- schemas (client -> broker; the broker validates every inbound message) ----
// Every number and string has its ceiling here (protocol/limits.ts, protocol.md §4.6).
const uint = { type: 'integer', minimum: 0, maximum: MAX_UINT } as const;
/** A duration a client asks for; below 2^31 ms, so no timer it reaches can overflow. */
const ms = { type: 'integer', minimum: 1, maximum: MAX_DURATION_MS } as const;
/** Scheduled delivery: a delay may pass 2^31 ms (the scheduler re-arms its timer); the broker's maxScheduleDelayMs bounds both. */
const schedule = {
  delay: { type: 'integer', minimum: 0, maximum: MAX_SCHEDULE_DELAY_MS },
  deliverAt: { type: 'integer', minimum: 0, maximum: MAX_DELIVER_AT },
} as const;
/** Space names: letters, digits and `_ . : -`, so they are safe in logs, metrics and CLI arguments. */
const spaceName = { type: 'string', maxLength: MAX_NAME_LENGTH, pattern: NAME_PATTERN } as const;
const fields = { type: 'array', minItems: 1, maxItems: MAX_ARITY } as const;
const name = { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH } as const;
/** Queue (durable subscription) names: as space names (the broker keeps 4 characters for `.dlq`). */
const queueName = spaceName;
const tupleId = { type: 'string', minLength: 1, maxLength: MAX_TUPLE_ID_LENGTH } as const;
const secret = { type: 'string', maxLength: MAX_SECRET_LENGTH } as const;
const queueSettings = {
  ackWait: ms,
  maxInFlight: { type: 'integer', minimum: 1, maximum: MAX_IN_FLIGHT },
  maxDeliveries: { type: 'integer', minimum: 1, maximum: MAX_DELIVERIES },
  maxMessages: { type: 'integer', minimum: 1, maximum: MAX_QUEUE_MESSAGES },
  maxBytes: { type: 'integer', minimum: 1, maximum: MAX_QUEUE_BYTES },
  overflow: { enum: [...OVERFLOW_POLICIES] },
} as const;
/** The settings of one extension in `hello.ext`: its own to interpret, but bounded in number and names. */
const extensionSettings = {
  type: 'object', maxProperties: MAX_EXTENSIONS, propertyNames: { type: 'string', maxLength: MAX_EXTENSION_NAME_LENGTH },
} as const;

function message(t: string, properties: Record<string, object>, required: string[]): object {
  return {
    type: 'object',
    properties: { t: { const: t }, ...properties },
    required: ['t', ...required],
    additionalProperties: false,
  };
}

/** Schemas per type; `payload` is the schema of `data`, which differs between codecs. */
export function clientFrameSchemas(payload: object): Record<ClientFrame['t'], object> {
  return {
    hello: message('hello', {
      id: uint, v: uint, name,
      ext: {
        type: 'object', maxProperties: MAX_EXTENSIONS, propertyNames: { type: 'string', maxLength: MAX_EXTENSION_NAME_LENGTH },
        properties: { fragmentation: { ...extensionSettings, properties: { size: uint } } },
        additionalProperties: extensionSettings,
      },
      // One of three forms; each field bounded on its own so an error names it.
      auth: {
        type: 'object', additionalProperties: false,
        properties: { user: name, password: secret, token: secret, jwt: { type: 'string', minLength: 1, maxLength: MAX_JWT_LENGTH } },
        minProperties: 1,
        dependencies: { user: ['password'], password: ['user'], token: { maxProperties: 1 }, jwt: { maxProperties: 1 } },
      },
      // The topic's syntax is checked as a pub's (INVALID_TOPIC), its payload against maxMessageBytes.
      will: {
        type: 'object', additionalProperties: false, required: ['topic', 'data'],
        properties: {
          topic: { type: 'string', maxLength: MAX_TOPIC_LENGTH }, data: payload, mode: { enum: [...DELIVERY_MODES] },
          delay: { type: 'integer', minimum: 0, maximum: MAX_DURATION_MS }, retain: { type: 'boolean' },
        },
      },
      session: { type: 'string', minLength: 1, maxLength: MAX_SESSION_LENGTH },
    }, ['id', 'v']),
    ping: message('ping', { id: uint }, ['id']),
    pong: message('pong', { re: uint }, ['re']),
    sub: message('sub', {
      id: uint, sid: uint, pattern: { type: 'string' }, group: name, durable: queueName, retained: { type: 'boolean' }, ...queueSettings,
      stream: queueName, reader: queueName,
      start: {
        oneOf: [
          { enum: ['first', 'last', 'new'] },
          { type: 'object', properties: { seq: { type: 'integer', minimum: 0, maximum: MAX_STREAM_SEQ } }, required: ['seq'], additionalProperties: false },
          { type: 'object', properties: { time: { type: 'integer', minimum: 0, maximum: MAX_STREAM_TIME } }, required: ['time'], additionalProperties: false },
        ],
      },
    }, ['id', 'sid', 'pattern']),
    unsub: message('unsub', { id: uint, sid: uint }, ['id', 'sid']),
    pub: message('pub', {
      id: uint,
      topic: { type: 'string' },
      data: payload,
      ack: { enum: [...ACK_LEVELS] },
      timeout: ms,
      // The store cannot key on control characters U+0000-U+0004 or lone surrogates.
      mid: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH, pattern: '^[^\\u0000-\\u0004\\uD800-\\uDFFF]*$' },
      reply: { type: 'boolean' },
      mode: { enum: [...DELIVERY_MODES] },
      ttl: ms,
      hdr: HEADERS_SCHEMA,
      retain: { type: 'boolean' },
      ...schedule,
    }, ['topic', 'data']),
    rcv: message('rcv', { tags: { type: 'array', items: uint, minItems: 1, maxItems: MAX_TAGS_PER_RCV } }, ['tags']),
    ack: message('ack', { tag: uint, data: payload }, ['tag']),
    nack: message('nack', { tag: uint, reason: { type: 'string', maxLength: MAX_REASON_LENGTH }, delay: { type: 'integer', minimum: 0, maximum: MAX_DURATION_MS } }, ['tag']),
    working: message('working', { tag: uint }, ['tag']),
    qcreate: message('qcreate', { id: uint, name: queueName, pattern: { type: 'string' }, ...queueSettings }, ['id', 'name', 'pattern']),
    qdelete: message('qdelete', { id: uint, name: queueName }, ['id', 'name']),
    unschedule: message('unschedule', { id: uint, sched: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE_ID_LENGTH, pattern: '^[^\\u0000-\\u0004\\uD800-\\uDFFF]*$' } }, ['id', 'sched']),
    screate: message('screate', {
      id: uint, name: queueName, pattern: { type: 'string' },
      maxAge: { type: 'integer', minimum: 1, maximum: MAX_STREAM_AGE_MS },
      maxMessages: queueSettings.maxMessages, maxBytes: queueSettings.maxBytes, discard: { enum: [...DISCARD_POLICIES] },
    }, ['id', 'name', 'pattern']),
    sdelete: message('sdelete', { id: uint, name: queueName }, ['id', 'name']),
    out: message('out', { id: uint, space: spaceName, tuple: fields, ttl: ms, ack: { enum: [...ACK_LEVELS] }, timeout: ms, persistent: { type: 'boolean' }, hdr: HEADERS_SCHEMA, ...schedule }, ['space', 'tuple']),
    in: readMessage('in'),
    rd: readMessage('rd'),
    count: message('count', { id: uint, space: spaceName, template: fields }, ['id', 'space', 'template']),
    abort: message('abort', { id: uint, target: uint }, ['id', 'target']),
    notify: message('notify', {
      id: uint, nid: uint, space: spaceName, template: fields,
      events: { type: 'array', items: { enum: ['out', 'in', 'expire'] }, minItems: 1, uniqueItems: true },
    }, ['id', 'nid', 'space', 'template']),
    unnotify: message('unnotify', { id: uint, nid: uint }, ['id', 'nid']),
    renew: message('renew', { id: uint, space: spaceName, tid: tupleId, ttl: ms }, ['id', 'space', 'tid', 'ttl']),
    cancel: message('cancel', { id: uint, space: spaceName, tid: tupleId }, ['id', 'space', 'tid']),
    batch: message('batch', {
      id: uint, space: spaceName, persistent: { type: 'boolean' },
      steps: {
        type: 'array', minItems: 1, maxItems: MAX_BATCH_STEPS,
        // The step's `op` picks its schema, so an error names the field of that step (`steps.3.ttl`).
        items: {
          type: 'object', discriminator: { propertyName: 'op' },
          oneOf: [
            { type: 'object', properties: { op: { enum: ['inp', 'rdp'] }, template: fields }, required: ['op', 'template'], additionalProperties: false },
            { type: 'object', properties: { op: { const: 'out' }, tuple: fields, ttl: ms, hdr: HEADERS_SCHEMA }, required: ['op', 'tuple'], additionalProperties: false },
          ],
        },
      },
    }, ['id', 'space', 'steps']),
    frag: message('frag', { fid: uint, seq: uint, n: { type: 'integer', minimum: 1, maximum: MAX_UINT }, size: uint, data: {}, abort: { type: 'boolean' } }, ['fid', 'seq', 'n', 'data']),
    settle: message('settle', { id: uint, rid: tupleId, ok: { type: 'boolean' } }, ['id', 'rid', 'ok']),
    // Which of name/connection/peek/scope an op needs or allows is checked by server/handlers/admin.ts.
    admin: message('admin', {
      id: uint, op: { enum: [...ADMIN_OPS] }, name: queueName, connection: name, peek: { type: 'integer', minimum: 1, maximum: MAX_PEEK },
      scope: { enum: ['cluster', 'node'] },
    }, ['id', 'op']),
  };
}

function readMessage(t: 'in' | 'rd'): object {
  const properties: Record<string, object> = {
    id: uint, space: spaceName, template: fields, wait: { type: 'boolean' }, timeout: ms, limit: { type: 'integer', minimum: 1, maximum: MAX_READ_LIMIT },
  };
  if (t === 'in') properties.reserve = ms;
  return message(t, properties, ['id', 'space', 'template']);
}
