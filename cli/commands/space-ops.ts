import { setImmediate as nextTurn } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import type { Client, ReadOptions, Space } from '../../client-sdk/index.js';
import { assertName } from '../../protocol/names.js';
import { compileTemplate, validateTuple } from '../../server/space/template.js';
import { action, addUrlOption, CliError, connectOrFail, EXIT, finish, integer, toJsonText, type BrokerFlags } from '../common.js';

/** What `in` and `rd` share: both are one command differing only in whether the tuple is taken. */
type ReadOp = 'in' | 'rd';

interface ReadFlags extends BrokerFlags {
  timeout?: number;
  all?: boolean;
  limit?: number;
}

/** The protocol's bound on `limit` (protocol/frames.ts); --all asks for that much. */
const MAX_LIMIT = 100_000;
// Node timers overflow past 2^31-1 ms and the SDK's guard timer adds a second; the broker caps
// waits at its maxTimeoutMs (10 min by default) long before this anyway.
const MAX_TIMEOUT_MS = 2_000_000_000;

const WORDING: Record<ReadOp, { description: string; all: string }> = {
  in: {
    description: 'take the oldest tuple matching a template, waiting for one unless --timeout; prints it as JSON',
    all: 'take every matching tuple now, without waiting; one JSON tuple per line',
  },
  rd: {
    description: 'read (without taking) the oldest tuple matching a template, waiting for one unless --timeout; prints it as JSON',
    all: 'read every matching tuple now, without waiting; one JSON tuple per line',
  },
};

// The field count is the one limit a broker may be configured with (maxArity, up to 1024); a
// broker allowing fewer refuses with the same codes, which exit 2 as well.
const ANY_ARITY = { maxArity: Number.MAX_SAFE_INTEGER };

/**
 * Parses a space name and a tuple or template argument, and checks them as the broker will, with
 * its own validators (protocol/names.ts, server/space/template.ts), before connecting: a mistake
 * there is a usage error (exit 2) even with no broker to ask.
 */
export function parseFields(spaceName: string, text: string, kind: 'tuple' | 'template'): unknown[] {
  const argument = `<json-${kind}>`;
  assertName('space', spaceName);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`invalid JSON in ${argument} argument: ${(err as Error).message} (quote it for the shell, e.g. '["job", 1]')`, EXIT.USAGE);
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new CliError(`${argument} must be a non-empty JSON array, e.g. '["job", 1]', not ${text}`, EXIT.USAGE);
  }
  // INVALID_TUPLE / INVALID_TEMPLATE, the broker's codes and wording.
  if (kind === 'tuple') validateTuple(value, ANY_ARITY);
  else compileTemplate(value, ANY_ARITY);
  return value;
}

export function registerRead(program: Command, op: ReadOp): void {
  const command = program
    .command(op)
    .description(WORDING[op].description)
    .argument('<space>', 'space name, e.g. jobs')
    .argument('<json-template>', 'JSON array; literals match equal values, e.g. \'["job", {"$type": "number"}]\'')
    .addOption(new Option('--timeout <ms>', `give up after ms without a match (exit ${EXIT.NO_MATCH}); 0 does not wait`).argParser(integer(0, MAX_TIMEOUT_MS)))
    .addOption(new Option('--all', `${WORDING[op].all} (at most ${MAX_LIMIT})`).conflicts('timeout'))
    .addOption(new Option('--limit <n>', 'like --all, but at most n tuples').argParser(integer(1, MAX_LIMIT)).implies({ all: true }).conflicts('timeout'));
  addUrlOption(command).action(action((space: string, json: string, flags: ReadFlags) => read(op, space, json, flags)));
}

async function read(op: ReadOp, spaceName: string, json: string, flags: ReadFlags): Promise<void> {
  const template = parseFields(spaceName, json, 'template');
  const client = await connectOrFail(flags, { reconnect: false });
  let code: number;
  try {
    const space = client.space(spaceName);
    const what = `${toJsonText(template)} in ${spaceName}`;
    code = flags.all ? await readAll(op, space, template, flags.limit ?? MAX_LIMIT, what) : await readOne(op, client, space, template, flags.timeout, what);
  } finally {
    await client.close();
  }
  finish(code);
}

async function readAll(op: ReadOp, space: Space, template: unknown[], limit: number, what: string): Promise<number> {
  const tuples = op === 'in' ? await space.inAll(template, { limit }) : await space.rdAll(template, { limit });
  if (tuples.length === 0) {
    process.stderr.write(`no tuple matches ${what}\n`);
    return EXIT.NO_MATCH;
  }
  // `linden rd --all ... | head -1`: a reader that leaves early is not worth a stack trace.
  process.stdout.on('error', () => {});
  process.stdout.write(tuples.map((tuple) => `${toJsonText(tuple)}\n`).join(''));
  return EXIT.OK;
}

async function readOne(op: ReadOp, client: Client, space: Space, template: unknown[], timeout: number | undefined, what: string): Promise<number> {
  if (timeout === 0) {
    const tuple = op === 'in' ? await space.inp(template) : await space.rdp(template);
    if (tuple) return printTuple(tuple);
    process.stderr.write(`no tuple matches ${what}\n`);
    return EXIT.NO_MATCH;
  }

  const controller = new AbortController();
  const onSignal = (): void => {
    // A second Ctrl-C does not wait for the broker to confirm the abort.
    if (controller.signal.aborted) process.exit(EXIT.INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const options: ReadOptions = { signal: controller.signal };
    if (timeout !== undefined) options.timeout = timeout;
    const pending = op === 'in' ? space.in(template, options) : space.rd(template, options);
    await announceWait(client, pending, `waiting on ${space.name} for ${toJsonText(template)}`);
    // The broker answers an abort with a tuple if it handed one over first; printing it then
    // is what keeps an interrupted `in` from losing a tuple.
    const tuple = await pending;
    if (tuple) return printTuple(tuple);
    if (controller.signal.aborted) {
      process.stderr.write(`interrupted: no tuple ${op === 'in' ? 'taken' : 'read'}\n`);
      return EXIT.INTERRUPTED;
    }
    process.stderr.write(`no tuple matches ${what} within ${describeTimeout(client, timeout!)}\n`);
    return EXIT.NO_MATCH;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printTuple(tuple: unknown[]): number {
  process.stdout.write(`${toJsonText(tuple)}\n`);
  return EXIT.OK;
}

/** The wait that actually elapsed: the broker silently shortens timeouts above its maxTimeoutMs. */
function describeTimeout(client: Client, timeout: number): string {
  const cap = client.limits?.maxTimeoutMs;
  return cap !== undefined && cap < timeout ? `${cap} ms (the broker's maxTimeoutMs)` : `${timeout} ms`;
}

/**
 * Prints `line` on stderr once the broker has parked the request as a waiter, so scripts and tests
 * know a tuple written from now on reaches it. The broker handles a connection's frames in order:
 * when a ping sent after the request is answered, the request was either answered or parked.
 */
async function announceWait(client: Client, pending: Promise<unknown>, line: string): Promise<void> {
  let settled = false;
  pending.then(() => { settled = true; }, () => { settled = true; });
  await client.flush();
  // An answer that came before the pong may still be travelling up the SDK's promise chain;
  // one macrotask turn lets it settle.
  await nextTurn();
  if (!settled) process.stderr.write(`${line}\n`);
}
