import { Command, Option } from 'commander';
import type { Broker, BrokerOptions } from '../../server/index.js';
import { OPTION_SPECS } from '../../server/option-specs.js';
import { action, addUrlOption, CliError, EXIT, finish } from '../common.js';
import { addOptionFlags } from '../config/flags.js';

interface ServeFlags {
  config?: string;
  printConfig?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('serve')
    .description('run a broker until SIGINT or SIGTERM, which drain it (a second one exits at once); every broker option can be given by flag, LINDEN_* variable or --config file (README "Configuration")')
    .addOption(new Option('--config <file>', 'JSON file of broker options, the names and shape startBroker() takes; LINDEN_* variables and flags win over it').env('LINDEN_CONFIG'))
    .addOption(new Option('--print-config', 'print every option, its value and where it comes from (default, file, env, flag), and exit without starting'))
    .addOption(new Option('--json', 'with --print-config: JSON Lines, one {option, value, source} per option'));
  const flagValues = addOptionFlags(command);
  command.action(action(async (flags: ServeFlags) => {
    if (flags.json && !flags.printConfig) throw new CliError('--json goes with --print-config', EXIT.USAGE);
    // Loaded here, not with the command line: every `linden` command registers `serve`, and the
    // broker and its schema compilers take most of a second to load.
    const [{ brokerOptions, configFrom }, { printConfig }] = await Promise.all([import('../config/resolve-config.js'), import('../config/print-config.js')]);
    // The variables the client commands read are not broker options, nor typos of them. Only
    // serve's own module is loaded (cli/main.ts), so the connection options say which they are.
    const others = [...program.commands, addUrlOption(new Command())];
    const otherEnv = new Set(others.flatMap((c) => c.options.flatMap((o) => (o.envVar ? [o.envVar] : []))));
    const { config, warnings } = configFrom({ configFile: flags.config, env: process.env, flags: flagValues(), otherEnv, cwd: process.cwd() });
    for (const warning of warnings) process.stderr.write(`${warning}\n`);
    const options = await brokerOptions(config);
    if (flags.printConfig) {
      printConfig(config, flags.json === true);
      return;
    }
    await run(options);
  }));
}

async function run(options: BrokerOptions): Promise<void> {
  const { LindenError, startBroker } = await import('../../server/index.js');
  let broker: Broker;
  try {
    broker = await startBroker(options);
  } catch (err) {
    if (err instanceof LindenError) throw err;
    throw new CliError(`cannot start broker: ${(err as Error).message}`); // e.g. EADDRINUSE
  }
  // The broker has logged `broker listening` with its URL and whoever read it may signal us at
  // once: install the handlers before anything else is awaited (signals arrive as macrotasks).
  stopOnSignals(broker, options.drainTimeoutMs ?? OPTION_SPECS.drainTimeoutMs.default);
  if (options.tls !== undefined) reloadOnHangup(broker);
}

/**
 * SIGHUP reloads the certificate (what certificate renewal tools signal). A failed reload is
 * logged and the broker goes on with the certificate it has. Installed only with TLS, so without
 * it SIGHUP keeps its default meaning (the terminal went away: exit).
 */
function reloadOnHangup(broker: Broker): void {
  process.on('SIGHUP', () => {
    broker.log.info({ signal: 'SIGHUP' }, 'signal received: reloading the TLS certificate');
    broker.reloadTls().catch((err: unknown) => broker.log.error({ err: (err as Error).message }, 'TLS reload failed: the previous certificate stays'));
  });
}

/**
 * SIGTERM and SIGINT drain the broker (README "Signals and drain"): it stops taking new work,
 * lets what is in flight finish for up to drainTimeoutMs, then exits 0. A second signal means
 * whoever sent it will not wait: exit at once, non-zero.
 */
function stopOnSignals(broker: Broker, drainTimeoutMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      broker.log.warn({ signal }, 'signal received again: exiting without waiting');
      process.exit(EXIT.FAILURE);
    }
    stopping = true;
    // A log line like every other the broker writes, so operators read one format.
    broker.log.info({ signal, drainTimeoutMs }, 'signal received: draining');
    broker.drain().then(() => finish(EXIT.OK), (err: unknown) => {
      broker.log.error({ err }, 'stopping the broker failed');
      finish(EXIT.FAILURE);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
