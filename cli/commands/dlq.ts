import { Option, type Command } from 'commander';
import { assertName } from '../../protocol/names.js';
import { action, addUrlOption, EXIT, finish, orNotFound, printJson, type BrokerFlags } from '../common.js';
import { adminCall } from './admin-call.js';

interface RetryFlags extends BrokerFlags {
  json?: boolean;
}

/** `linden dlq retry <queue>`: dead letters back into their queue (admin op `retry` over WebSocket). */
export function register(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('act on the dead-letter queue <name>.dlq of a durable queue');

  const retry = dlq
    .command('retry')
    .description('move the ready messages of <queue>.dlq back into <queue>, oldest first, as far as it has room; their delivery count starts again')
    .argument('<queue>', 'the queue whose dead letters to retry (not the .dlq name)')
    .addOption(new Option('--json', 'print {"moved": n, "remaining": n} on stdout'));
  addUrlOption(retry).action(action(retryDeadLetters));
}

async function retryDeadLetters(queue: string, flags: RetryFlags): Promise<void> {
  assertName('queue', queue);
  const result = await orNotFound(flags.url, 'queue', queue, () => adminCall(flags, { op: 'retry', name: queue })) as { moved: number; remaining: number };
  if (flags.json) printJson(result);
  const { moved, remaining } = result;
  const left = remaining > 0 ? `; ${remaining} left in ${queue}.dlq: ${queue} is at its maxMessages or maxBytes` : '';
  process.stderr.write(`moved ${moved} dead letter${moved === 1 ? '' : 's'} from ${queue}.dlq back to ${queue}${left}\n`);
  finish(EXIT.OK);
}
