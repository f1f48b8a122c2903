import { isIPv4 } from 'node:net';

/*
 * Which web pages may open a WebSocket to the broker. Browsers let any page connect anywhere
 * and send its origin in the `Origin` header; the broker is the only one who can say no. Clients
 * outside browsers send no `Origin` and are not concerned: nothing stops them from lying anyway.
 */

/** `allowedOrigins` entry that admits every origin. */
export const ANY_ORIGIN = '*';

/**
 * An `allowedOrigins` entry as browsers serialise origins (lowercase scheme and host, default
 * port left out), so the check is an exact comparison; undefined when it is not an origin.
 */
export function normalizeOrigin(entry: string): string | undefined {
  if (entry === ANY_ORIGIN) return entry;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return undefined;
  }
  // An origin has no path, query, fragment or credentials; one that does is a mistake, not an origin.
  if (url.host === '' || url.username || url.password || url.search || url.hash || (url.pathname !== '' && url.pathname !== '/')) return undefined;
  // Non-special schemes (browser extensions: chrome-extension://<id>) serialise as "null"; their pages send scheme://host.
  return url.origin !== 'null' ? url.origin : `${url.protocol}//${url.host}`;
}

/** http(s) on localhost, 127.0.0.0/8 or [::1], any port: pages served from this machine. */
export function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'));
}

/**
 * The check of an `Origin` header against the broker's `allowedOrigins` (already normalised):
 * without a list, loopback origins only.
 */
export function originCheck(allowed: readonly string[] | undefined): (origin: string) => boolean {
  if (allowed === undefined) return isLoopbackOrigin;
  if (allowed.includes(ANY_ORIGIN)) return () => true;
  const set = new Set(allowed);
  return (origin) => set.has(origin);
}
