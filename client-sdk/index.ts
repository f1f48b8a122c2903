export { connect, Client } from './client.js';
export type { AdminRequest, ConnectOptions, PublishOptions, QueueSettings, TlsOptions, WillOptions } from './options.js';
export type { ReconnectOptions } from './backoff.js';
export type { Receipt } from './receipt.js';
export type { StatusEvent } from './status.js';
export { Subscription, type SubscribeOptions } from './subscription.js';
export { Message } from './message.js';
export { Space, Notification, type SpaceOptions, type Lease, type OutOptions, type ReadOptions, type ReserveOptions, type Reserved, type TupleEvent, type BatchStep, type BatchResult, type Entry, type EntryOption } from './space.js';
export { LindenError, ERROR_CODES, CLOSE_CODES, type ErrorCode } from '../protocol/errors.js';
export { PROTOCOL_VERSION, SUBPROTOCOLS } from '../protocol/version.js';
export type { ReceiverRef } from '../protocol/frames.js';
// Not `Headers`, which user code knows as fetch's class.
export type { Headers as MessageHeaders } from '../protocol/headers.js';
export { traceContext, type TraceContextOptions } from '../protocol/trace-context.js';
export { fragmentation, type FragmentationOptions } from '../protocol/fragmentation.js';
export type { Interceptor, InterceptorContext, Frame, FrameResult, Link, LinkHooks } from '../protocol/interceptor.js';
