/**
 * Message and tuple headers (`hdr`, protocol.md §3.5): string keys to string values, carried
 * opaquely by the broker next to a payload or a tuple. Interceptors (trace context, auth, ...)
 * put their metadata here, so it never has to be mixed into application data.
 */
export type Headers = Record<string, string>;

export const HEADER_LIMITS = { maxEntries: 32, maxKeyLength: 64, maxValueLength: 1024 } as const;

/** The JSON schema of `hdr`, the same in both codecs; the broker answers a violation with INVALID_FRAME. */
export const HEADERS_SCHEMA = {
  type: 'object',
  maxProperties: HEADER_LIMITS.maxEntries,
  propertyNames: { type: 'string', minLength: 1, maxLength: HEADER_LIMITS.maxKeyLength },
  additionalProperties: { type: 'string', maxLength: HEADER_LIMITS.maxValueLength },
} as const;

/**
 * What `{}` headers read as: shared and frozen, so a message or tuple without headers costs no
 * allocation for them.
 */
export const NO_HEADERS: Readonly<Headers> = Object.freeze({});

/**
 * Headers worth sending: undefined for none or `{}`, so a publish with empty headers keeps the
 * SDK's fast path. Their limits are the broker's to check (INVALID_FRAME): one rule, one place.
 */
export function someHeaders(headers: Headers | undefined): Headers | undefined {
  if (headers !== undefined) for (const _ in headers) return headers;
  return undefined;
}
