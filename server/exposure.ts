import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { ResolvedOptions } from './options.js';

/** Hosts that only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.toLowerCase().startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** What is missing for a broker that other machines can reach. */
export function exposureGaps(options: ResolvedOptions): string[] {
  const gaps: string[] = [];
  if (!options.auth) gaps.push('no authentication');
  if (!options.tls) gaps.push('no TLS');
  return gaps;
}

/**
 * Warns once at start when the broker listens beyond loopback (0.0.0.0, ::, a LAN address,
 * a host name) while something that protects it there is missing.
 */
export function warnIfExposed(options: ResolvedOptions, log: Logger): void {
  if (isLoopbackHost(options.host)) return;
  const gaps = exposureGaps(options);
  if (gaps.length === 0) return;
  log.warn({ host: options.host, gaps }, `listening on ${options.host}, reachable from other machines, with ${gaps.join(' and ')}`);
}
