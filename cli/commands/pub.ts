import { Option, type Command } from 'commander';
import type { Client, LindenError, PublishOptions } from '../../client-sdk/index.js';
import { action, addUrlOption, CliError, connectOrFail, EXIT, finish, integer, toJsonText } from '../common.js';

type AckLevel = NonNullable<PublishOptions['ack']>;
const ACK_LEVELS: readonly AckLevel[] = ['none', 'submission', 'delivery', 'processing'];

interface PubFlags {
  url: string;
  ack: AckLevel;
  timeout?: number;
}

export function register(program: Command): void {
  const command = program
    .command('pub')
    .description('publish one message; prints the receipt as JSON unless --ack is none')
    .argument('<topic>', 'concrete topic, e.g. orders.created')
    .argument('<json>', 'payload as JSON, e.g. \'{"id": 1}\'')
    .addOption(new Option('--ack <level>', 'synchronisation point to wait for').choices(ACK_LEVELS).default('none'))
    .addOption(new Option('--timeout <ms>', 'bound on the wait for delivery/processing').argParser(integer(1)));
  addUrlOption(command).action(action(pub));
}

async function pub(topic: string, json: string, flags: PubFlags): Promise<void> {
  const data = parseJson(json);
  const client = await connectOrFail(flags.url, { reconnect: false });
  const brokerErrors = collectErrors(client);
  try {
    if (flags.ack === 'none') {
      await client.publish(topic, data);
      // Without a receipt, a ping round trip is what tells us the broker has handled the publish.
      await client.flush();
    } else {
      const options: PublishOptions = { ack: flags.ack };
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`invalid JSON in <json> argument: ${(err as Error).message} (quote it for the shell, e.g. '{"a": 1}')`, EXIT.USAGE);
  }
}
