import { Option, type Command } from 'commander';
import type { Client, LindenError, PublishOptions } from '../../client-sdk/index.js';
import { assertTopic } from '../../protocol/topics.js';
import { action, addUrlOption, CliError, connectOrFail, EXIT, finish, integer, toJsonText, type BrokerFlags } from '../common.js';

type AckLevel = NonNullable<PublishOptions['ack']>;
const ACK_LEVELS: readonly AckLevel[] = ['none', 'submission', 'delivery', 'processing'];

interface PubFlags extends BrokerFlags {
  ack?: AckLevel;
  timeout?: number;
  persistent?: boolean;
  msgId?: string;
  delay?: number;
  deliverAt?: number;
}

export function register(program: Command): void {
  const command = program
    .command('pub')
    .description('publish one message; prints the receipt as JSON unless --ack is none')
    .argument('<topic>', 'concrete topic, e.g. orders.created')
    .argument('<json>', 'payload as JSON, e.g. \'{"id": 1}\'')
    // The default depends on --persistent, so commander gets none and pub() picks it.
    .addOption(new Option('--ack <level>', 'synchronisation point to wait for (default: none; submission with --persistent)').choices(ACK_LEVELS))
    .addOption(new Option('--timeout <ms>', 'bound on the wait for delivery/processing').argParser(integer(1)))
    .addOption(new Option('--persistent', 'store the message for every matching durable queue until a consumer acks it'))
    .addOption(new Option('--msg-id <id>', 'publisher message id: a persistent repeat within the broker\'s dedupe window is not stored again'))
    // Scheduled delivery (README "Scheduled delivery"): the receipt's id cancels it (`linden scheduled cancel <id>`).
    .addOption(new Option('--delay <ms>', 'deliver the message this many ms from now, never earlier (default --ack: submission, to print its id)').argParser(integer(0)).conflicts('deliverAt'))
    .addOption(new Option('--deliver-at <time>', 'deliver the message at this time: ISO 8601 (2030-01-01T09:00:00Z) or ms since the epoch').argParser(instant));
  addUrlOption(command).action(action(pub));
}

async function pub(topic: string, json: string, flags: PubFlags): Promise<void> {
  // The broker's own check, before connecting: a bad topic is a usage error even with no broker.
  assertTopic(topic);
  const data = parseJson(json);
  // A persistent publish is worth waiting for by default: the receipt says it is on disk, and in which queues.
  const scheduled = flags.delay !== undefined || flags.deliverAt !== undefined;
  const ack = flags.ack ?? (flags.persistent || scheduled ? 'submission' : 'none');
  const base: PublishOptions = {};
  if (flags.persistent) base.mode = 'persistent';
  if (flags.msgId !== undefined) base.msgId = flags.msgId;
  if (flags.delay !== undefined) base.delay = flags.delay;
  if (flags.deliverAt !== undefined) base.deliverAt = flags.deliverAt;
  const client = await connectOrFail(flags, { reconnect: false });
  const brokerErrors = collectErrors(client);
  try {
    if (ack === 'none') {
      await client.publish(topic, data, base);
      // Without a receipt, a ping round trip is what tells us the broker has handled the publish.
      await client.flush();
    } else {
      const options: PublishOptions = { ...base, ack };
      if (flags.timeout !== undefined) options.timeout = flags.timeout;
      const receipt = await client.publish(topic, data, options);
      process.stdout.write(`${toJsonText(receipt)}\n`);
    }
  } finally {
    await client.close();
  }
  // A refused fire-and-forget publish has no request to fail; the broker reports it on the status feed.
  const [refused] = await brokerErrors;
  if (refused) throw refused;
  finish(EXIT.OK);
}

/** Errors the broker sent outside any request; resolves once the client has closed and the feed ended. */
async function collectErrors(client: Client): Promise<LindenError[]> {
  const errors: LindenError[] = [];
  for await (const event of client.status()) if (event.type === 'error') errors.push(event.error);
  return errors;
}

/** `--deliver-at`: ms since the epoch, or a date the Date parser reads (ISO 8601). */
function instant(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new CliError(`--deliver-at: "${text.slice(0, 64)}" is neither ms since the epoch nor an ISO 8601 time`, EXIT.USAGE);
  return ms;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`invalid JSON in <json> argument: ${(err as Error).message} (quote it for the shell, e.g. '{"a": 1}')`, EXIT.USAGE);
  }
}
