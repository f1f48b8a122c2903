import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { connect, LindenError, type Client, type ConnectOptions, type ErrorCode } from '../client-sdk/index.js';
import { toJsonValue } from '../protocol/json-data.js';
import { doesNotExist } from '../protocol/names.js';
import { UNTRUSTED_CERTIFICATE } from '../client-sdk/transport.js';

/**
 * Exit codes of every subcommand; scripts branch on them, so they never change meaning.
 * README's "Command line" section lists them; keep the two in step.
 */
export const EXIT = {
  OK: 0,
  /** The broker refused the operation, could not be reached, or failed; or a name does not exist on it. */
  FAILURE: 1,
  /**
   * The command line itself is wrong: unknown option, invalid JSON, a `--url` that is not ws:// or
   * wss://, an invalid topic, pattern, name, tuple or template (found here or by the broker).
   */
  USAGE: 2,
  /** `in`/`rd` printed nothing because no tuple matched: --timeout elapsed, or --timeout 0 / --all found none. */
  NO_MATCH: 3,
  /** `in`/`rd` was stopped by SIGINT or SIGTERM before a tuple arrived (128 + SIGINT, as shells report Ctrl-C). */
  INTERRUPTED: 130,
} as const;

export const DEFAULT_URL = 'ws://127.0.0.1:7070';

/**
 * Error codes that mean an argument was wrong rather than the broker failing: the CLI checks
 * topics, patterns, names, tuples and templates with the broker's own validators before
 * connecting, and when the broker still refuses one (a limit it was configured with, say), the
 * exit code is the same.
 */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_TOPIC', 'INVALID_PATTERN', 'INVALID_TEMPLATE', 'INVALID_TUPLE', 'INVALID_ARGUMENT', 'INVALID_FRAME',
]);

/**
 * An error the CLI reports with its own wording and exit code, as opposed to a LindenError,
 * which is printed with its stable code.
 */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.FAILURE) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * The `--url` parser: a ws:// or wss:// URL, checked before anything connects. Commander applies
 * it to LINDEN_URL too, so a bad value from either place is a usage error (exit 2).
 */
export function brokerUrl(value: string): string {
  let scheme: string | undefined;
  try {
    scheme = new URL(value).protocol;
  } catch { /* not a URL at all: same answer */ }
  // The HTTP views are reached through the same ws:// URL (same port), so http:// is a mistake too.
  if (scheme !== 'ws:' && scheme !== 'wss:') throw new InvalidArgumentError(`expected a ws:// or wss:// URL such as ${DEFAULT_URL}`);
  return value;
}

/** Where a client command finds the broker: `--url`, and `--ca` for a wss:// broker with a private CA. */
export interface BrokerFlags {
  url: string;
  /** The PEM text of the `--ca` file (read when the command line is parsed). */
  ca?: string;
  /** Credentials for a broker with users (README "Security"). */
  user?: string;
  password?: string;
  token?: string;
}

/** The credentials the flags give, as connect() options. */
export function credentials(broker: BrokerFlags): Pick<ConnectOptions, 'user' | 'password' | 'token'> {
  if (broker.token !== undefined) return { token: broker.token };
  if (broker.user !== undefined) return { user: broker.user, password: broker.password ?? '' };
  return {};
}

/** The same credentials for the HTTP views: a bearer token, or Basic for a user and password. */
export function authorizationHeader(broker: BrokerFlags): string | undefined {
  if (broker.token !== undefined) return `Bearer ${broker.token}`;
  if (broker.user !== undefined) return `Basic ${Buffer.from(`${broker.user}:${broker.password ?? ''}`).toString('base64')}`;
  return undefined;
}

/**
 * The `--ca` parser: reads the file at once, so a missing or wrong file is a usage error
 * (exit 2) before anything connects, from the flag or LINDEN_CA alike.
 */
export function caFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new InvalidArgumentError(`${path} holds no PEM certificate`);
  return pem;
}

/**
 * Adds `--url` and `--ca`; commander gives each precedence flag > LINDEN_URL / LINDEN_CA >
 * default and shows them in --help.
 */
export function addUrlOption(command: Command): Command {
  return command
    .addOption(new Option('--url <ws-url>', 'broker URL, ws:// or wss://').env('LINDEN_URL').default(DEFAULT_URL).argParser(brokerUrl))
    .addOption(new Option('--ca <file>', 'PEM file of the CA that signed a wss:// broker\'s certificate, when not a public one').env('LINDEN_CA').argParser(caFile))
    // Secrets from the environment keep them out of shell history and `ps`.
    .addOption(new Option('--user <name>', 'log in as this user (with --password)').env('LINDEN_USER'))
    .addOption(new Option('--password <password>', 'the user\'s password; prefer LINDEN_PASSWORD').env('LINDEN_PASSWORD'))
    .addOption(new Option('--token <token>', 'log in with a token; prefer LINDEN_TOKEN').env('LINDEN_TOKEN').conflicts('user'));
}

/** The CA to trust for this broker: only a wss:// URL uses one. */
export function trustedCa(broker: BrokerFlags): string | undefined {
  return broker.ca !== undefined && broker.url.startsWith('wss:') ? broker.ca : undefined;
}

/** Advice to add to a refused certificate: the SDK's sentence speaks of its options, not of flags. */
export function certificateAdvice(broker: BrokerFlags, message: string): string {
  if (!message.includes(UNTRUSTED_CERTIFICATE)) return '';
  return trustedCa(broker) === undefined
    ? '; give the CA that signed it with --ca <file> (or LINDEN_CA)'
    : '; the CA given with --ca (or LINDEN_CA) did not sign it';
}

/** The sentence every command prints for a queue, space or connection the broker does not have. */
export function notFoundMessage(url: string, kind: 'queue' | 'space' | 'connection' | 'stream', name: string): string {
  return `${doesNotExist(kind, name)} on the broker at ${url}`;
}

/**
 * Runs `call`, turning the broker's NOT_FOUND into notFoundMessage() (exit 1). An explanation the
 * broker adds after its own "... does not exist" (why `<name>.dlq` does not) is kept.
 */
export async function orNotFound<T>(url: string, kind: 'queue' | 'space' | 'connection' | 'stream', name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof LindenError) || err.code !== 'NOT_FOUND') throw err;
    const said = doesNotExist(kind, name);
    const more = err.message.startsWith(said) ? err.message.slice(said.length) : '';
    throw new CliError(`${notFoundMessage(url, kind, name)}${more}`);
  }
}

/** Connects, turning any failure into the one message users see when the broker is not there. */
export async function connectOrFail(broker: BrokerFlags, options: ConnectOptions): Promise<Client> {
  const ca = trustedCa(broker);
  try {
    return await connect(broker.url, { name: 'linden-cli', ...options, ...credentials(broker), ...(ca === undefined ? {} : { tls: { ca } }) });
  } catch (err) {
    if (err instanceof LindenError && err.code === 'AUTH_FAILED') {
      throw new CliError(`the broker at ${broker.url} refused the login (AUTH_FAILED): check --user and --password, or --token`);
    }
    const message = (err as Error).message;
    throw new CliError(`cannot reach broker at ${broker.url}: ${message}${certificateAdvice(broker, message)}`);
  }
}

/** Prints an error the way every subcommand does, on one line, and returns the exit code it deserves. */
export function reportError(err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`${oneLine(err.message)}\n`);
    return err.exitCode;
  }
  if (err instanceof LindenError) {
    process.stderr.write(`error ${err.code}: ${oneLine(err.message)}\n`);
    return USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.FAILURE;
  }
  process.stderr.write(`error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
  return EXIT.FAILURE;
}

/** A failure is one line on stderr, whatever the message holds (commander's, the broker's, a socket's). */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

// Long enough for a WebSocket close handshake to finish; only reached when a handle leaks.
const EXIT_GRACE_MS = 2_000;

/**
 * Ends the command with `code`. The process exits on its own once sockets have closed, so acks
 * and close frames still in flight reach the broker; the unref'd timer bounds that wait.
 */
export function finish(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
}

/** Wraps an action so a thrown error is printed and sets the exit code, instead of a stack trace. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (err) {
      finish(reportError(err));
    }
  };
}

/** Renders a decoded payload as one line of JSON; binary, bigint and undefined stay representable. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(toJsonValue(value)) ?? 'null';
}

/*
 * `--json` output, the same for every command: JSON Lines, one compact JSON object per line,
 * never pretty-printed. A list prints one line per element (nothing for an empty list), so
 * `| jq`, `| wc -l` and `| while read -r line` work without unwrapping an array.
 */

/** `--json` for one result: one line. */
export function printJson(value: object): void {
  process.stdout.write(`${toJsonText(value)}\n`);
}

/** `--json` for a list: one line per element. */
export function printJsonLines(list: readonly object[]): void {
  process.stdout.write(list.map((v) => `${toJsonText(v)}\n`).join(''));
}

/** A commander argument parser for integers in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}
