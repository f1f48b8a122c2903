import type { Command } from 'commander';
import { CLOSE_CODES } from '../../protocol/errors.js';
import { action, addUrlOption, EXIT, finish, orNotFound, type BrokerFlags } from '../common.js';
import { adminCall } from './admin-call.js';

/** `linden kick <connectionId>`: closes a client's connection (admin op `kick` over WebSocket). */
export function register(program: Command): void {
  const command = program
    .command('kick')
    .description(`close a client connection (close code ${CLOSE_CODES.KICKED.code}); ids are in \`linden connections\`. A client that reconnects comes back`)
    .argument('<connectionId>', 'connection id, e.g. c3-CE6GObZi');
  addUrlOption(command).action(action(kick));
}

async function kick(id: string, flags: BrokerFlags): Promise<void> {
  await orNotFound(flags.url, 'connection', id, () => adminCall(flags, { op: 'kick', connection: id }));
  process.stderr.write(`connection ${id} closed (${CLOSE_CODES.KICKED.code})\n`);
  finish(EXIT.OK);
}
