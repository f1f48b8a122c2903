import { Option, type Command } from 'commander';
import type { RetainedView } from '../../server/pubsub/retained-messages.js';
import { assertPattern, assertTopic } from '../../protocol/topics.js';
import { action, addUrlOption, connectOrFail, EXIT, finish, printJsonLines, type BrokerFlags } from '../common.js';
import { addInspectOptions, fetchApi, type InspectFlags } from './inspect-api.js';
import { bytes, since, table } from './inspect-format.js';

interface RetainedList { pattern: string; topics: number; bytes: number; retained: RetainedView[] }

/**
 * `linden retained [pattern]` lists retained messages (HTTP admin API, read-only);
 * `linden retained clear <topic>` clears one the way any client does, by publishing an empty
 * payload with retain: a mutation goes over the WebSocket protocol, where the user's publish
 * permission is checked.
 */
export function register(program: Command): void {
  const retained = program
    .command('retained')
    .description('list the retained messages on topics a pattern matches (topic, size, mode, age); `retained clear <topic>` clears one')
    .argument('[pattern]', 'topic pattern, e.g. status.> (default: every topic)');
  addInspectOptions(retained).action(action(list));

  const clear = retained
    .command('clear')
    .description('clear the retained message of a topic: publishes an empty payload with retain (live subscribers get it, as any publish)')
    .argument('<topic>', 'concrete topic')
    .addOption(new Option('--json', 'print {"topic", "id"} on stdout'));
  addUrlOption(clear).action(action(clearTopic));
}

async function list(pattern: string | undefined, flags: InspectFlags): Promise<void> {
  const p = pattern ?? '>';
  assertPattern(p);
  const answer = await fetchApi<RetainedList>(flags, `/api/retained?pattern=${encodeURIComponent(p)}`);
  if (flags.json) printJsonLines(answer.retained);
  else process.stdout.write(retainedTable(answer.retained));
  finish(EXIT.OK);
}

export function retainedTable(rows: readonly RetainedView[]): string {
  return table(rows, [
    { header: 'TOPIC', value: (r) => r.topic },
    { header: 'SIZE', value: (r) => bytes(r.bytes), right: true },
    { header: 'MODE', value: (r) => r.mode },
    { header: 'RETAINED', value: (r) => since(r.time), right: true },
  ], 'no retained messages');
}

/** `--url`, `--ca` and `--json` may be parsed by `retained` itself, where `clear` comes after them or they after it: both count. */
async function clearTopic(topic: string, _flags: unknown, command: Command): Promise<void> {
  const flags = command.optsWithGlobals<BrokerFlags & { json?: boolean }>();
  assertTopic(topic);
  const client = await connectOrFail(flags, { reconnect: false });
  try {
    const receipt = await client.publish(topic, null, { retain: true, ack: 'submission' });
    if (flags.json) process.stdout.write(`${JSON.stringify({ topic, id: receipt.id })}\n`);
  } finally {
    await client.close();
  }
  process.stderr.write(`cleared the retained message of ${topic} (if it had one)\n`);
  finish(EXIT.OK);
}
