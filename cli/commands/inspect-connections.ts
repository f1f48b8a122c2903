import type { Command } from 'commander';
import type { ConnectionView, SubscriptionView } from '../../server/admin/views.js';
import { action, EXIT, finish, printJsonLines } from '../common.js';
import { addInspectOptions, addNodeOption, fetchApi, scopeQuery, type InspectFlags } from './inspect-api.js';
import { bytes, duration, table } from './inspect-format.js';

/**
 * `linden connections`: who is connected, and whose outbound buffer is filling up;
 * `linden subscriptions`: which patterns have live subscribers, in which groups.
 */
export function register(program: Command): void {
  const command = program
    .command('connections')
    .description('list client connections with codec, subscriptions, pending outbound bytes, how long that output has been stalled, message counts and last-will topic');
  addNodeOption(command, 'connections');
  addInspectOptions(command).action(action(connections));

  const subs = program
    .command('subscriptions')
    .description('list patterns with live subscribers: plain, per queue group and per durable queue');
  addNodeOption(subs, 'subscriptions');
  addInspectOptions(subs).action(action(subscriptions));
}

async function subscriptions(flags: InspectFlags & { node?: boolean }): Promise<void> {
  const list = await fetchApi<(SubscriptionView & { node?: string })[]>(flags, `/api/subscriptions${scopeQuery(flags)}`);
  if (flags.json) {
    printJsonLines(list);
  } else {
    // Cluster mode: one row per node and pattern, and which node holds them.
    const cluster = list.some((s) => s.node !== undefined);
    process.stdout.write(table(list, [
      ...(cluster ? [{ header: 'NODE', value: (s: SubscriptionView & { node?: string }) => s.node ?? '-' }] : []),
      { header: 'PATTERN', value: (s) => s.pattern },
      { header: 'GROUP', value: (s) => s.group ?? '-' },
      { header: 'DURABLE', value: (s) => s.durable ?? '-' },
      { header: 'SUBSCRIBERS', value: (s) => String(s.subscribers), right: true },
      { header: 'CONNECTIONS', value: (s) => s.connections.join(',') },
    ], 'no subscriptions'));
  }
  finish(EXIT.OK);
}

async function connections(flags: InspectFlags & { node?: boolean }): Promise<void> {
  const list = await fetchApi<ConnectionView[]>(flags, `/api/connections${scopeQuery(flags)}`);
  if (flags.json) printJsonLines(list);
  else process.stdout.write(connectionTable(list));
  finish(EXIT.OK);
}

export function connectionTable(list: readonly ConnectionView[]): string {
  return table(list, [
    { header: 'ID', value: (c) => c.id },
    { header: 'NAME', value: (c) => c.name ?? '-' },
    { header: 'ADDRESS', value: (c) => c.remoteAddress },
    { header: 'CODEC', value: (c) => c.codec },
    { header: 'SUBS', value: (c) => String(c.subscriptions), right: true },
    { header: 'PENDING', value: (c) => bytes(c.pendingBytes), right: true },
    // Over maxPendingBytes with nothing taken: closed with 4007 once this reaches writeDeadlineMs.
    { header: 'STALLED', value: (c) => (c.stalledMs > 0 ? duration(c.stalledMs) : '-'), right: true },
    { header: 'IN', value: (c) => String(c.messagesIn), right: true },
    { header: 'OUT', value: (c) => String(c.messagesOut), right: true },
    { header: 'DROPPED', value: (c) => String(c.dropped), right: true },
    // The topic its last will goes to if it ends without a clean close (a broker before wills sends none).
    { header: 'WILL', value: (c) => c.will ?? '-' },
  ], 'no connections');
}
