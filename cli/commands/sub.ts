import { InvalidArgumentError, Option, type Command } from 'commander';
import { LindenError, type Client, type Message, type SubscribeOptions } from '../../client-sdk/index.js';
import type { StreamStart } from '../../protocol/frames.js';
import { assertName } from '../../protocol/names.js';
import { assertPattern } from '../../protocol/topics.js';
import { action, addUrlOption, CliError, connectOrFail, EXIT, finish, integer, notFoundMessage, orNotFound, toJsonText, type BrokerFlags } from '../common.js';

interface SubFlags extends BrokerFlags {
  group?: string;
  durable?: string;
  stream?: string;
  start?: StreamStart;
  reader?: string;
  ackWait?: number;
  count?: number;
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('sub')
    .description('print messages matching a pattern, one per line, until Ctrl-C or --count')
    .argument('<pattern>', 'topic pattern; `*` matches one token, a trailing `>` one or more')
    .addOption(new Option('--group <name>', 'queue group: each message goes to one member'))
    .addOption(new Option('--durable <name>', 'attach to (creating if needed) this durable queue; each message is acked once printed').conflicts('group'))
    .addOption(new Option('--stream <name>', 'read this replayable stream from --start, then follow it').conflicts(['group', 'durable']))
    .addOption(new Option('--start <where>', 'with --stream: first (default), last, new, a seq, or a date (ISO 8601) for the first message appended since').argParser(streamStart))
    .addOption(new Option('--reader <name>', 'with --stream: a named reader whose position the broker keeps; each message is acked once printed'))
    .addOption(new Option('--ack-wait <ms>', 'with --reader: time to ack a message before it is delivered again (broker default 30000)').argParser(integer(1)))
    .addOption(new Option('--count <n>', 'exit after n messages').argParser(integer(1)))
    .addOption(new Option('--json', 'print {"topic","id","data"} objects (plus "deliveryCount" with --durable, "seq" and "time" with --stream) instead of `topic data` (`seq topic data` with --stream)'));
  addUrlOption(command).action(action(sub));
}

async function sub(pattern: string, flags: SubFlags): Promise<void> {
  // The broker's own checks, before connecting: these are usage errors even with no broker.
  assertPattern(pattern);
  if (flags.durable !== undefined) assertName('queue', flags.durable);
  if (flags.stream === undefined && (flags.start !== undefined || flags.reader !== undefined)) throw new CliError('--start and --reader need --stream');
  if (flags.ackWait !== undefined && flags.reader === undefined) throw new CliError('--ack-wait needs --reader (with --stream) or a durable queue (`linden queue create --ack-wait`)');
  if (flags.stream !== undefined) assertName('stream', flags.stream);
  // Reconnects (and resubscribes) after a lost connection: a subscriber is long-lived.
  const client = await connectOrFail(flags, {});
  let stopping = false;
  const close = (): void => {
    stopping = true;
    void client.close();
  };
  process.once('SIGINT', close);
  process.once('SIGTERM', close);
  // `linden sub ... | head -1`: the reader is gone, so there is no one left to print for.
  process.stdout.on('error', close);
  reportStatus(client);

  try {
    const subscription = client.subscribe(pattern, subscribeOptions(flags));
    // Closing before the broker confirmed rejects `ready` with CLOSED; that is a clean stop too.
    // NOT_FOUND: `--durable <name>.dlq` of a queue that does not exist (any other name is created), or an unknown stream.
    const ready = flags.stream !== undefined ? orNotFound(flags.url, 'stream', flags.stream, () => subscription.ready)
      : flags.durable === undefined ? subscription.ready : orNotFound(flags.url, 'queue', flags.durable, () => subscription.ready);
    await ready.catch((err: unknown) => {
      if (!stopping) throw err;
    });
    // On stderr so stdout stays pure data; scripts and tests wait for this line before publishing.
    if (!stopping) process.stderr.write(`subscribed to ${pattern}${describeShare(flags)}\n`);
    let seen = 0;
    try {
      for await (const msg of subscription) {
        process.stdout.write(`${format(msg, flags.json === true, flags.durable !== undefined, flags.stream !== undefined)}\n`);
        // Acked once printed: printing is this consumer's processing (a durable queue then forgets the message).
        if (msg.wantsAck) msg.ack();
        if (flags.count !== undefined && ++seen >= flags.count) break;
      }
    } catch (err) {
      // `linden queue delete` (or another admin) removed the queue this consumer was attached to.
      if (err instanceof LindenError && err.code === 'NOT_FOUND' && flags.durable !== undefined) {
        throw new CliError(`${notFoundMessage(flags.url, 'queue', flags.durable)} any more: it was deleted`);
      }
      throw err;
    }
  } finally {
    await client.close();
  }
  finish(EXIT.OK);
}

function subscribeOptions(flags: SubFlags): SubscribeOptions<unknown> {
  if (flags.stream !== undefined) {
    const options: SubscribeOptions<unknown> = { stream: flags.stream };
    if (flags.start !== undefined) options.start = flags.start;
    if (flags.reader !== undefined) options.reader = flags.reader;
    if (flags.ackWait !== undefined) options.ackWait = flags.ackWait;
    return options;
  }
  return flags.durable !== undefined ? { durable: flags.durable } : flags.group !== undefined ? { group: flags.group } : {};
}

/** `--start`: a position keyword, a seq, or a date whose first message on is read. */
function streamStart(text: string): StreamStart {
  if (text === 'first' || text === 'last' || text === 'new') return text;
  if (/^\d+$/.test(text)) return { seq: Number(text) };
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new InvalidArgumentError('expected first, last, new, a seq or a date (ISO 8601)');
  return { time };
}

function describeShare(flags: SubFlags): string {
  if (flags.stream !== undefined) return ` in stream ${flags.stream}${flags.reader === undefined ? '' : ` as reader ${flags.reader}`}`;
  if (flags.durable !== undefined) return ` in durable queue ${flags.durable}`;
  return flags.group === undefined ? '' : ` in group ${flags.group}`;
}

function format(msg: Message, json: boolean, durable: boolean, stream: boolean): string {
  // A durable queue may deliver a message again (after a crash, a nack or a timeout): say how often.
  const fields = { topic: msg.topic, id: msg.id, data: msg.data };
  if (json) return toJsonText(durable ? { ...fields, deliveryCount: msg.deliveryCount } : stream ? { ...fields, seq: msg.seq, time: msg.time } : fields);
  return stream ? `${msg.seq} ${msg.topic} ${toJsonText(msg.data)}` : `${msg.topic} ${toJsonText(msg.data)}`;
}

/** Tells the user on stderr why no messages arrive while the connection is down. */
function reportStatus(client: Client): void {
  void (async () => {
    for await (const event of client.status()) {
      if (event.type === 'disconnected') process.stderr.write(`connection lost (${event.code}${event.reason ? ': ' + event.reason : ''})\n`);
      else if (event.type === 'reconnecting') process.stderr.write(`reconnecting (attempt ${event.attempt}) in ${event.delayMs} ms\n`);
      else if (event.type === 'connected') process.stderr.write('reconnected\n');
      else if (event.type === 'draining') process.stderr.write(`the broker is draining: reconnecting once the messages in hand are acked (within ${event.ms} ms)\n`);
      else if (event.type === 'slow-consumer') process.stderr.write(`dropped ${event.dropped} message(s): slow consumer (${event.where})\n`);
      else if (event.type === 'error') process.stderr.write(`error ${event.error.code}: ${event.error.message}\n`);
    }
  })();
}
