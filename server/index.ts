export { startBroker, type Broker } from './broker.js';
export type { BrokerOptions } from './options.js';
export { LindenError, ERROR_CODES, CLOSE_CODES, type ErrorCode } from '../protocol/errors.js';
export { PROTOCOL_VERSION, SUBPROTOCOLS } from '../protocol/version.js';
export { fragmentation, type FragmentationOptions } from '../protocol/fragmentation.js';
export { traceContext, type TraceContextOptions } from '../protocol/trace-context.js';
export type { Interceptor, InterceptorContext, Frame, FrameResult, Link, LinkHooks } from '../protocol/interceptor.js';
