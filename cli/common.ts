import { InvalidArgumentError, Option, type Command } from 'commander';
import { connect, LindenError, type Client, type ConnectOptions } from '../client-sdk/index.js';
import { toJsonValue } from '../protocol/json-data.js';

/** Exit codes of every subcommand; scripts branch on them, so they never change meaning. */
export const EXIT = {
  OK: 0,
  /** The broker refused the operation, could not be reached, or failed. */
  FAILURE: 1,
  /** The command line itself is wrong (unknown option, invalid JSON argument, ...). */
  USAGE: 2,
  /** `in`/`rd` printed nothing because no tuple matched: --timeout elapsed, or --timeout 0 / --all found none. */
  NO_MATCH: 3,
  /** `in`/`rd` was stopped by SIGINT or SIGTERM before a tuple arrived (128 + SIGINT, as shells report Ctrl-C). */
  INTERRUPTED: 130,
} as const;

export const DEFAULT_URL = 'ws://127.0.0.1:7070';

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

/** Adds `--url`; commander gives it precedence flag > LINDEN_URL > default and shows all three in --help. */
export function addUrlOption(command: Command): Command {
  return command.addOption(new Option('--url <ws-url>', 'broker URL').env('LINDEN_URL').default(DEFAULT_URL));
}

/** Connects, turning any failure into the one message users see when the broker is not there. */
export async function connectOrFail(url: string, options: ConnectOptions): Promise<Client> {
  try {
    return await connect(url, { name: 'linden-cli', ...options });
  } catch (err) {
    throw new CliError(`cannot reach broker at ${url}: ${(err as Error).message}`);
  }
}

/** Prints an error the way every subcommand does and returns the exit code it deserves. */
export function reportError(err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof LindenError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    return EXIT.FAILURE;
  }
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.FAILURE;
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
