import type { Command } from 'commander';
import type { QueueDetail, QueueView } from '../../server/admin/views.js';
import { assertName } from '../../protocol/names.js';
import { action, EXIT, finish, printJson, printJsonLines, toJsonText } from '../common.js';
import { addInspectOptions, addPeekOption, fetchApi, type InspectFlags } from './inspect-api.js';
import { ago, bytes, duration, fields, rate, since, table } from './inspect-format.js';

/**
 * `linden queues [name]`: every durable queue, or one in detail. The detail view is not
 * `linden queue <name>` because `queue` already takes `create`/`delete` subcommands, and a queue
 * named "create" could then not be inspected.
 */
export function register(program: Command): void {
  const command = program
    .command('queues')
    .description('list durable queues with depth, in-flight, consumers, dead letters and why a queue is stalled; with a name, show that queue in detail')
    .argument('[name]', 'a queue to show in detail');
  addPeekOption(command, 'the payloads of the first n ready messages (with a name)');
  addInspectOptions(command).action(action(queues));
}

async function queues(name: string | undefined, flags: InspectFlags & { peek?: number }): Promise<void> {
  if (name === undefined) {
    const list = await fetchApi<QueueView[]>(flags, '/api/queues');
    if (flags.json) printJsonLines(list);
    else process.stdout.write(queueTable(list));
  } else {
    assertName('queue', name);
    const query = flags.peek === undefined ? '' : `?peek=${flags.peek}`;
    const q = await fetchApi<QueueDetail>(flags, `/api/queues/${encodeURIComponent(name)}${query}`, { kind: 'queue', name });
    if (flags.json) printJson(q);
    else process.stdout.write(queueDetail(q));
  }
  finish(EXIT.OK);
}

export function queueTable(list: readonly QueueView[]): string {
  return table(list, [
    { header: 'NAME', value: (q) => q.name },
    { header: 'PATTERN', value: (q) => q.pattern ?? '(dead letters)' },
    { header: 'READY', value: (q) => String(q.depth), right: true },
    { header: 'IN FLIGHT', value: (q) => String(q.inFlight), right: true },
    { header: 'CONSUMERS', value: (q) => String(q.consumers), right: true },
    { header: 'DLQ', value: (q) => String(q.deadLetters), right: true },
    { header: 'SIZE', value: (q) => bytes(q.bytes), right: true },
    { header: 'OLDEST', value: (q) => ago(q.oldestAgeMs), right: true },
    { header: 'ACKED', value: (q) => String(q.acked), right: true },
    { header: 'PUB/S', value: (q) => rate(q.publishRate), right: true },
    { header: 'ACK/S', value: (q) => rate(q.ackRate), right: true },
    { header: 'STALLED', value: (q) => q.stalled ?? '-' },
  ], 'no queues');
}

function queueDetail(q: QueueDetail): string {
  const c = q.config;
  const head = fields([
    ['queue', q.name],
    ['pattern', q.pattern ?? '(dead-letter queue: filled by the broker)'],
    ['stalled', q.stalled ?? 'no'],
    ['messages', `${q.messages} (${q.depth} ready, ${q.inFlight} in flight, ${q.delayed} delayed), ${bytes(q.bytes)}`],
    ['oldest', ago(q.oldestAgeMs)],
    ['dead letters', `${q.deadLetters} in ${q.name}.dlq`],
    ['rates', `${rate(q.publishRate)} published/s, ${rate(q.ackRate)} acked/s (last 10s)`],
    ['counters', `${q.published} published, ${q.delivered} delivered, ${q.acked} acked, ${q.redelivered} redelivered, ${q.deadLettered} dead-lettered, ${q.expired} expired, ${q.dropped} dropped, ${q.purged} purged, ${q.retried} retried`],
    ['settings', `ackWait ${duration(c.ackWait)}, maxInFlight ${c.maxInFlight}, maxDeliveries ${c.maxDeliveries}, maxMessages ${c.maxMessages}, maxBytes ${bytes(c.maxBytes)}, overflow ${c.overflow}`],
    ['created', since(q.createdAt)],
  ]);
  const consumers = table(q.consumerList, [
    { header: 'CONNECTION', value: (x) => x.connection },
    { header: 'NAME', value: (x) => x.name ?? '-' },
    { header: 'SID', value: (x) => String(x.sid), right: true },
    { header: 'IN FLIGHT', value: (x) => `${x.inFlight}/${c.maxInFlight}`, right: true },
  ], 'no consumers');
  const messages = table(q.head, [
    { header: 'MESSAGE', value: (m) => m.mid },
    { header: 'TOPIC', value: (m) => m.topic },
    { header: 'SIZE', value: (m) => bytes(m.bytes), right: true },
    { header: 'AGE', value: (m) => duration(m.ageMs), right: true },
    { header: 'DELIVERIES', value: (m) => String(m.deliveries), right: true },
    { header: 'STATE', value: (m) => m.state },
  ], 'no messages');
  const more = q.messages > q.head.length ? `(first ${q.head.length} of ${q.messages} in line)\n` : '';
  return `${head}\n${consumers}\n${messages}${more}${q.peek ? `\n${peekTable(q.peek)}` : ''}`;
}

/** `--peek`: the first ready messages with their payloads, one line of JSON each. */
function peekTable(peek: NonNullable<QueueDetail['peek']>): string {
  return table(peek, [
    { header: 'MESSAGE', value: (m) => m.mid },
    { header: 'TOPIC', value: (m) => m.topic },
    { header: 'DELIVERIES', value: (m) => String(m.deliveries), right: true },
    { header: 'DATA', value: (m) => ('data' in m ? toJsonText(m.data) : `(${bytes(m.bytes)} of MessagePack with no JSON form)`) },
  ], 'no ready messages to peek at');
}
