/**
 * Message types of protocol v1 and their JSON schemas. A WebSocket frame carries one message
 * object or an array of them; every message names its type in `t`.
 */
export const ACK_LEVELS = ['none', 'submission', 'delivery', 'processing'] as const;
export type AckLevel = (typeof ACK_LEVELS)[number];

/** Placeholder for the payload: MessagePack `bin` (msgpack codec) or any JSON value (JSON codec). */
export type Payload = unknown;

// ---- client -> broker ----
export interface HelloFrame { t: 'hello'; id: number; v: number; name?: string }
export interface PingFrame { t: 'ping'; id: number }
export interface PongFrame { t: 'pong'; re: number }
export interface SubFrame { t: 'sub'; id: number; sid: number; pattern: string; group?: string }
export interface UnsubFrame { t: 'unsub'; id: number; sid: number }
export interface PubFrame {
  t: 'pub'; topic: string; data: Payload;
  id?: number; ack?: AckLevel; timeout?: number; mid?: string; reply?: boolean;
}
export interface RcvFrame { t: 'rcv'; tags: number[] }
export interface AckFrame { t: 'ack'; tag: number; data?: Payload }
export interface NackFrame { t: 'nack'; tag: number; reason?: string }

export type ClientFrame =
  | HelloFrame | PingFrame | PongFrame | SubFrame | UnsubFrame | PubFrame | RcvFrame | AckFrame | NackFrame;

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
  server: { name: string; version: string }; limits: Limits; heartbeatMs: number;
}
export interface OkFrame { t: 'ok'; re: number }
export interface ErrFrame { t: 'err'; re?: number; code: string; message: string; details?: Record<string, unknown> }
export interface MsgFrame {
  t: 'msg'; sid: number; topic: string; mid: string; data: Payload;
  tag?: number; ack?: 'delivery' | 'processing'; reply?: boolean;
}
export interface ReceiverRef { connection: string; sid: number; group?: string }
export interface ReceiptFrame {
  t: 'receipt'; re: number; mid: string; stage: Exclude<AckLevel, 'none'>;
  receivers: number; delivered: number; processed: number; failed: number; dropped: number;
  timedOut: boolean; missing: ReceiverRef[]; rejected: ReceiverRef[]; data?: Payload;
}
export interface WarnFrame { t: 'warn'; code: string; message: string; dropped?: number }

export type BrokerFrame = WelcomeFrame | PingFrame | PongFrame | OkFrame | ErrFrame | MsgFrame | ReceiptFrame | WarnFrame;

// ---- schemas (client -> broker; the broker validates every inbound message) ----
const uint = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const name = { type: 'string', minLength: 1, maxLength: 128 } as const;

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
    hello: message('hello', { id: uint, v: { type: 'integer' }, name }, ['id', 'v']),
    ping: message('ping', { id: uint }, ['id']),
    pong: message('pong', { re: uint }, ['re']),
    sub: message('sub', { id: uint, sid: uint, pattern: { type: 'string' }, group: name }, ['id', 'sid', 'pattern']),
    unsub: message('unsub', { id: uint, sid: uint }, ['id', 'sid']),
    pub: message('pub', {
      id: uint,
      topic: { type: 'string' },
      data: payload,
      ack: { enum: [...ACK_LEVELS] },
      timeout: { type: 'integer', minimum: 1 },
      mid: { type: 'string', minLength: 1, maxLength: 128 },
      reply: { type: 'boolean' },
    }, ['topic', 'data']),
    rcv: message('rcv', { tags: { type: 'array', items: uint, minItems: 1, maxItems: 65536 } }, ['tags']),
    ack: message('ack', { tag: uint, data: payload }, ['tag']),
    nack: message('nack', { tag: uint, reason: { type: 'string', maxLength: 1024 } }, ['tag']),
  };
}
