import { HEADER_LIMITS, type Headers } from './headers.js';
import type { Frame, Interceptor, InterceptorContext } from './interceptor.js';

/**
 * The built-in W3C Trace Context interceptor (https://www.w3.org/TR/trace-context/): stamps a
 * `traceparent` header on the frames that carry application data, publishes (`pub`) and tuples
 * (`out`), so a consumer or taker can continue the publisher's trace. `tracestate` is vendor data
 * and is never touched. It lives in protocol/ because both sides use it (protocol.md §3.5.1).
 */
export interface TraceContextOptions {
  /**
   * The traceparent of the caller's active span, if any (e.g. from OpenTelemetry's context).
   * Client side: a publish or tuple without a traceparent becomes a child of it; without one (or
   * with an invalid one) it starts a new trace.
   */
  current?: () => string | undefined;
}

/** The four fields of a traceparent, as lowercase hex. */
export interface Traceparent {
  version: string;
  traceId: string;
  parentId: string;
  flags: string;
}

const TRACED = new Set(['pub', 'out']);
const HEX = /^[0-9a-f]+$/;
const VERSION_00_LENGTH = 55; // 2 + 1 + 32 + 1 + 16 + 1 + 2

export function traceContext(options: TraceContextOptions = {}): Interceptor {
  return {
    name: 'trace-context',
    outbound(frame: Frame, ctx: InterceptorContext) {
      if (ctx.side !== 'client') return undefined;
      const stamp = (hdr: Headers | undefined): Headers | undefined => {
        if (hdr?.traceparent !== undefined) return undefined; // the application set its own
        // A full set of headers has no room: the broker starts the trace instead of refusing the frame.
        if (hdr && Object.keys(hdr).length >= HEADER_LIMITS.maxEntries) return undefined;
        const current = options.current?.();
        const parent = current === undefined ? undefined : parseTraceparent(current);
        return { ...hdr, traceparent: parent ? childOf(parent) : newTraceparent() };
      };
      return stampFrame(frame, stamp);
    },
    inbound(frame: Frame, ctx: InterceptorContext) {
      if (ctx.side !== 'broker') return undefined;
      // The broker's hop: same trace, its own span. A client that sent none, or garbage, gets a fresh trace.
      return stampFrame(frame, (hdr) => {
        const parent = hdr?.traceparent === undefined ? undefined : parseTraceparent(hdr.traceparent);
        return { ...hdr, traceparent: parent ? childOf(parent) : newTraceparent() };
      });
    },
  };
}

/**
 * Parses a traceparent by the W3C rules; undefined when it is invalid: fields of the wrong
 * length or not lowercase hex, an all-zero trace or parent id, version ff, or a version 00 value
 * with anything after the flags. A later version may carry more fields after a `-` (spec §3.2.4).
 */
export function parseTraceparent(value: string): Traceparent | undefined {
  if (typeof value !== 'string' || value.length < VERSION_00_LENGTH) return undefined;
  const version = value.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== VERSION_00_LENGTH : value.length > VERSION_00_LENGTH && value[VERSION_00_LENGTH] !== '-') {
    return undefined;
  }
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(parentId) || !HEX.test(flags)) return undefined;
  if (isZero(traceId) || isZero(parentId)) return undefined;
  return { version, traceId, parentId, flags };
}

export function formatTraceparent(t: Traceparent): string {
  return `${t.version}-${t.traceId}-${t.parentId}-${t.flags}`;
}

/** A new trace: random trace id and span id, sampled (flags 01), version 00. */
export function newTraceparent(): string {
  return formatTraceparent({ version: '00', traceId: randomId(16), parentId: randomId(8), flags: '01' });
}

/** The next hop of a trace: same trace id and flags, a new span id; written as version 00, the one this code speaks. */
export function childOf(parent: Traceparent): string {
  return formatTraceparent({ version: '00', traceId: parent.traceId, parentId: randomId(8), flags: parent.flags });
}

type BatchStep = { op: string; hdr?: Headers };

/**
 * The frame with `stamp` applied to the headers of what it carries: a `pub`, an `out`, or each
 * `out` step of a `batch`. `stamp` returns undefined to leave headers as they are.
 */
function stampFrame(frame: Frame, stamp: (hdr: Headers | undefined) => Headers | undefined): Frame | undefined {
  if (TRACED.has(frame.t)) {
    const hdr = stamp(frame.hdr as Headers | undefined);
    return hdr === undefined ? undefined : { ...frame, hdr };
  }
  if (frame.t !== 'batch' || !Array.isArray(frame.steps)) return undefined;
  const steps = (frame.steps as BatchStep[]).map((step) => {
    if (step.op !== 'out') return step;
    const hdr = stamp(step.hdr);
    return hdr === undefined ? step : { ...step, hdr };
  });
  return { ...frame, steps };
}

const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `bytes` random bytes as hex, never all zero (the spec forbids zero ids). Web Crypto: works in browsers too. */
function randomId(bytes: number): string {
  const buf = new Uint8Array(bytes);
  let hex: string;
  do {
    globalThis.crypto.getRandomValues(buf);
    hex = '';
    for (const b of buf) hex += BYTE_HEX[b];
  } while (isZero(hex));
  return hex;
}

function isZero(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 0x30) return false;
  return true;
}
