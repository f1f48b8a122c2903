/**
 * What the examples share besides the SDK: how they end when something expected goes wrong.
 * Instead of a stack trace, one line on stderr naming the example, and an exit code a script can
 * branch on (README, "Examples"):
 *
 *   0  done
 *   1  the broker refused or failed an operation, or could not be reached; or the example's own
 *      outcome failed (an order reached no consumer, a request went unanswered, ...)
 *   2  usage: a bad argument, a file that cannot be read, a broker URL that is not ws:// or wss://
 *
 * Not part of the SDK: an application decides for itself what a failure means. An example calls
 * reportFailures() first thing and takes its broker URL from brokerUrl().
 */
import { basename } from 'node:path';
import { LindenError, type ErrorCode } from 'linden';

const DEFAULT_URL = 'ws://127.0.0.1:7070';

/** Codes that mean the example was given something invalid, not that the broker failed. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_TOPIC', 'INVALID_PATTERN', 'INVALID_TEMPLATE', 'INVALID_TUPLE', 'INVALID_ARGUMENT', 'INVALID_FRAME',
]);

const script = basename(process.argv[1] ?? 'example');
let url = DEFAULT_URL;

/**
 * Ends the process on any error nobody caught, the top-level `await`s included: one line on stderr
 * and exit 1 or 2 for the failures an example expects (LindenError, a file or socket error). Anything
 * else is a bug in the example and keeps its stack trace.
 */
export function reportFailures(): void {
  process.on('uncaughtException', (err) => {
    const failure = describe(err);
    if (!failure) {
      process.stderr.write(`${script}: ${err.stack ?? String(err)}\n`);
      process.exit(1);
    }
    process.stderr.write(`${script}: ${failure.message}\n`);
    process.exit(failure.exitCode);
  });
}

/** The broker URL: `arg` if given, else LINDEN_URL, else ws://127.0.0.1:7070; anything but ws:// or wss:// exits 2. */
export function brokerUrl(arg?: string): string {
  const value = arg ?? process.env.LINDEN_URL ?? DEFAULT_URL;
  let scheme: string | undefined;
  try {
    scheme = new URL(value).protocol;
  } catch { /* not a URL at all */ }
  if (scheme !== 'ws:' && scheme !== 'wss:') fail(`invalid broker URL "${value}": expected ws:// or wss://, e.g. ${DEFAULT_URL}`, 2);
  url = value;
  return value;
}

/** Prints `<script>: <message>` and exits with `exitCode`. */
export function fail(message: string, exitCode: 1 | 2 = 1): never {
  process.stderr.write(`${script}: ${message}\n`);
  process.exit(exitCode);
}

function describe(err: Error): { message: string; exitCode: number } | undefined {
  if (err instanceof LindenError) {
    // connect() failing: no broker at that address, or something that is not a Linden broker.
    if (err.code === 'CONNECTION_REFUSED') return { message: `cannot reach broker at ${url}: ${err.message}`, exitCode: 1 };
    return { message: `error ${err.code}: ${err.message}`, exitCode: USAGE_CODES.has(err.code) ? 2 : 1 };
  }
  // A system call failed (a file, a socket): Node names it in `syscall`.
  if (typeof (err as NodeJS.ErrnoException).syscall === 'string') return { message: err.message, exitCode: 1 };
  return undefined;
}
