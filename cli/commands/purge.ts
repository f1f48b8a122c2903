import { Option, type Command } from 'commander';
import { assertName } from '../../protocol/names.js';
import { action, addUrlOption, EXIT, finish, orNotFound, printJson, type BrokerFlags } from '../common.js';
import { adminCall } from './admin-call.js';

interface PurgeFlags extends BrokerFlags {
  json?: boolean;
}

/** `linden purge <queue>`: drops a queue's ready messages (admin op `purge` over WebSocket). */
export function register(program: Command): void {
  const command = program
    .command('purge')
    .description('drop the ready messages of a durable queue; the queue, its consumers and the messages they hold stay')
    .argument('<queue>', 'queue name (a dead-letter queue <name>.dlq too)')
    .addOption(new Option('--json', 'print {"purged": n} on stdout'));
  addUrlOption(command).action(action(purge));
}

async function purge(queue: string, flags: PurgeFlags): Promise<void> {
  assertName('queue', queue);
  const { purged } = await orNotFound(flags.url, 'queue', queue, () => adminCall(flags, { op: 'purge', name: queue })) as { purged: number };
  if (flags.json) printJson({ purged });
  process.stderr.write(`purged ${purged} ready message${purged === 1 ? '' : 's'} from queue ${queue}\n`);
  finish(EXIT.OK);
}
