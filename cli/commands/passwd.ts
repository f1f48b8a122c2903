import { Option, type Command } from 'commander';
import { hashPassword, newToken } from '../../server/auth/secrets.js';
import { action, CliError, EXIT, finish } from '../common.js';

/**
 * `linden passwd`: the hash of a password (read from stdin, so it stays out of shell history and
 * `ps`) for a user's `password` in the config; `--token` makes a new random token and prints it
 * with the hash that goes in the config.
 */
export function register(program: Command): void {
  program
    .command('passwd')
    .description('print the hash of a password read from stdin (for auth.users[].password), or with --token a new token and its hash')
    .addOption(new Option('--token', 'generate a random token; prints the token (give it to the client) and its hash (for auth.users[].token)'))
    .addOption(new Option('--json', 'print one JSON object'))
    .action(action(passwd));
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (then Enter and Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function passwd(flags: { token?: boolean; json?: boolean }): Promise<void> {
  if (flags.token) {
    const { token, hash } = newToken();
    process.stdout.write(flags.json ? `${JSON.stringify({ token, hash })}\n` : `token: ${token}\nhash:  ${hash}\n`);
    return finish(EXIT.OK);
  }
  const password = await readStdin();
  if (password.length === 0) throw new CliError('no password on stdin: echo -n "$PASSWORD" | linden passwd', EXIT.USAGE);
  const hash = await hashPassword(password);
  process.stdout.write(flags.json ? `${JSON.stringify({ hash })}\n` : `${hash}\n`);
  finish(EXIT.OK);
}
