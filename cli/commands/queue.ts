import { Option, type Command } from 'commander';
import type { QueueSettings } from '../../client-sdk/index.js';
import { assertName } from '../../protocol/names.js';
import { assertPattern } from '../../protocol/topics.js';
import { action, addUrlOption, connectOrFail, EXIT, finish, integer, orNotFound, type BrokerFlags } from '../common.js';

interface QueueFlags extends BrokerFlags {
  ackWait?: number;
  maxInFlight?: number;
  maxDeliveries?: number;
  maxMessages?: number;
  maxBytes?: number;
  overflow?: QueueSettings['overflow'];
}

/** `linden queue create|delete`: durable subscriptions declared ahead of any consumer. */
export function register(program: Command): void {
  const queue = program
    .command('queue')
    .description('create or delete a durable queue (a durable subscription that keeps persistent messages)');

  const create = queue
    .command('create')
    .description('create a queue, or change the settings of an existing one (its pattern cannot change)')
    .argument('<name>', 'queue name: letters, digits and _ . : -')
    .argument('<pattern>', 'topic pattern whose persistent messages it keeps, e.g. orders.>')
    // No defaults here: an absent flag leaves an existing queue's setting as it is.
    .addOption(new Option('--ack-wait <ms>', 'time a consumer has to ack before redelivery (broker default 30000)').argParser(integer(1)))
    .addOption(new Option('--max-in-flight <n>', 'unacknowledged deliveries per consumer (broker default 1000)').argParser(integer(1, 1_000_000)))
    .addOption(new Option('--max-deliveries <n>', 'deliveries before a message moves to <name>.dlq (broker default 5)').argParser(integer(1)))
    .addOption(new Option('--max-messages <n>', 'messages held (broker default 1000000)').argParser(integer(1)))
    .addOption(new Option('--max-bytes <n>', 'payload bytes held (broker default 256 MiB)').argParser(integer(1)))
    .addOption(new Option('--overflow <policy>', 'when full: reject new publishes, or drop the oldest message (broker default reject)').choices(['reject', 'drop-oldest']));
  addUrlOption(create).action(action(createQueue));

  const remove = queue
    .command('delete')
    .description('delete a queue and every message it holds (its <name>.dlq stays until deleted too)')
    .argument('<name>', 'queue name');
  addUrlOption(remove).action(action(deleteQueue));
}

async function createQueue(name: string, pattern: string, flags: QueueFlags): Promise<void> {
  assertName('queue', name);
  assertPattern(pattern);
  const settings: QueueSettings = {};
  for (const key of ['ackWait', 'maxInFlight', 'maxDeliveries', 'maxMessages', 'maxBytes', 'overflow'] as const) {
    if (flags[key] !== undefined) (settings as Record<string, unknown>)[key] = flags[key];
  }
  const client = await connectOrFail(flags, { reconnect: false });
  try {
    // Only `<name>.dlq` can be missing: the broker makes dead-letter queues, never `queue create`.
    await orNotFound(flags.url, 'queue', name, () => client.createQueue(name, pattern, settings));
  } finally {
    await client.close();
  }
  // stdout stays empty: there is no data to hand to a script, only the exit code.
  process.stderr.write(`queue ${name} keeps persistent messages on ${pattern}\n`);
  finish(EXIT.OK);
}

async function deleteQueue(name: string, flags: BrokerFlags): Promise<void> {
  assertName('queue', name);
  const client = await connectOrFail(flags, { reconnect: false });
  try {
    await orNotFound(flags.url, 'queue', name, () => client.deleteQueue(name));
  } finally {
    await client.close();
  }
  process.stderr.write(`queue ${name} deleted\n`);
  finish(EXIT.OK);
}
