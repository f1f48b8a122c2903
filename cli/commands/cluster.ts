import type { Command } from 'commander';
import { Option } from 'commander';
import type { ClusterView } from '../../server/admin/cluster-view.js';
import { action, addUrlOption, EXIT, finish, printJsonLines, type BrokerFlags } from '../common.js';
import { adminCall } from './admin-call.js';
import { table } from './inspect-format.js';

/**
 * `linden cluster`: the nodes of the broker's cluster with their URLs and connections, and each
 * durable queue's depth as Redis holds it (admin op `cluster` over WebSocket, protocol.md §17.7).
 */
export function register(program: Command): void {
  const command = program
    .command('cluster')
    .description('cluster mode: list the live nodes (id, URL, connections) and every durable queue\'s messages, in flight and depth across the cluster');
  command.addOption(new Option('--json', 'print the admin op\'s JSON (stable field names) instead of tables: one object'));
  addUrlOption(command).action(action(cluster));
}

async function cluster(flags: BrokerFlags & { json?: boolean }): Promise<void> {
  const view = (await adminCall(flags, { op: 'cluster' })) as ClusterView;
  if (flags.json) {
    printJsonLines([view]);
    return finish(EXIT.OK);
  }
  if (view.node === null) {
    process.stdout.write('not in a cluster: the broker runs without the redis option\n');
    return finish(EXIT.OK);
  }
  process.stdout.write(table(view.nodes, [
    { header: 'NODE', value: (n) => n.node + (n.self ? ' *' : '') },
    { header: 'URL', value: (n) => n.url },
    { header: 'CONNECTIONS', value: (n) => String(n.connections), right: true },
  ], 'no live node'));
  process.stdout.write('\n' + table(view.queues, [
    { header: 'QUEUE', value: (q) => q.name },
    { header: 'PATTERN', value: (q) => q.pattern ?? '-' },
    { header: 'DEPTH', value: (q) => String(q.depth), right: true },
    { header: 'IN FLIGHT', value: (q) => String(q.inFlight), right: true },
    { header: 'MESSAGES', value: (q) => String(q.messages), right: true },
  ], 'no durable queues'));
  finish(EXIT.OK);
}
