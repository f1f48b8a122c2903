import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { LindenError, startBroker, type Broker, type BrokerOptions } from '../../server/index.js';
import { DEFAULTS, LOG_LEVELS } from '../../server/options.js';
import { normalizeOrigin } from '../../server/origin.js';
import { action, CliError, EXIT, finish, integer } from '../common.js';

/** The flags as commander parses them; each maps to one broker option in toBrokerOptions(). */
interface ServeFlags {
  port: number;
  host: string;
  logLevel: NonNullable<BrokerOptions['logLevel']>;
  data: string;
  memory?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  allowedOrigin?: string[];
  maxStoreBytes?: number;
  config?: BrokerOptions;
}

/** Where `linden serve` keeps its store unless told otherwise: next to wherever it was started. */
const DEFAULT_DATA_DIR = './linden-data';

/**
 * `--config <file>`: broker options as JSON, the same names and shape as startBroker() takes
 * (README "Security" has an example). Read when the command line is parsed, so an unreadable
 * file or bad JSON is a usage error; the broker validates the options themselves.
 */
function configFile(path: string): BrokerOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`${path} is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`${path} must hold a JSON object of broker options`);
  return value as BrokerOptions;
}

/**
 * The one place flags become broker options; a new flag adds a line here and an addOption below.
 * A flag given on the command line wins over the config file, which wins over the flags' defaults.
 */
function toBrokerOptions(flags: ServeFlags, given: (flag: string) => boolean): BrokerOptions {
  const file = flags.config ?? {};
  const options: BrokerOptions = { ...file };
  const pick = <K extends 'port' | 'host' | 'logLevel'>(key: K, value: BrokerOptions[K]): void => {
    if (given(key) || file[key] === undefined) options[key] = value;
  };
  pick('port', flags.port);
  pick('host', flags.host);
  pick('logLevel', flags.logLevel);
  // startBroker() itself keeps everything in memory without a dataDir; the command defaults to
  // a store so that persistent messages are persistent unless the user opts out.
  if (flags.memory) delete options.dataDir;
  else options.dataDir = resolve(given('data') || file.dataDir === undefined ? flags.data : file.dataDir);
  if (file.tls) options.tls = { cert: resolve(file.tls.cert), key: resolve(file.tls.key) };
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new CliError(`--tls-cert and --tls-key go together: ${flags.tlsCert === undefined ? '--tls-cert' : '--tls-key'} is missing`, EXIT.USAGE);
  }
  // Absolute, so a reload on SIGHUP reads the same files whatever the working directory has become.
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) options.tls = { cert: resolve(flags.tlsCert), key: resolve(flags.tlsKey) };
  if (flags.allowedOrigin !== undefined) options.allowedOrigins = flags.allowedOrigin;
  if (flags.maxStoreBytes !== undefined) options.maxStoreBytes = flags.maxStoreBytes;
  return options;
}

/** `--allowed-origin`, repeatable and comma-separated; each origin is checked as startBroker() would. */
function collectOrigins(value: string, previous: string[] | undefined): string[] {
  const origins = value.split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    if (normalizeOrigin(origin) === undefined) throw new InvalidArgumentError(`"${origin}" is not an origin: write "*" or scheme://host[:port], such as https://app.example.com`);
  }
  return [...(previous ?? []), ...origins];
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run a broker until SIGINT or SIGTERM')
    // Defaults come from the broker so the CLI and startBroker() cannot drift apart.
    .addOption(new Option('--port <port>', 'TCP port; 0 picks a free one').argParser(integer(0, 65535)).default(DEFAULTS.port))
    .addOption(new Option('--host <host>', 'interface to listen on').default(DEFAULTS.host))
    .addOption(new Option('--log-level <level>', 'pino log level').choices(LOG_LEVELS).default(DEFAULTS.logLevel))
    .addOption(new Option('--data <dir>', 'folder of the LMDB store: durable queues, persistent messages and spaces survive restarts').default(DEFAULT_DATA_DIR))
    .addOption(new Option('--memory', 'keep everything in memory: nothing survives the process').conflicts('data'))
    .addOption(new Option('--tls-cert <file>', 'serve wss:// and HTTPS with this PEM certificate (and chain); reloaded on SIGHUP'))
    .addOption(new Option('--tls-key <file>', 'the PEM private key of --tls-cert'))
    .addOption(new Option('--config <file>', 'JSON file of broker options (auth, allowedOrigins, tls, limits, ...); flags given here win over it').argParser(configFile))
    .addOption(new Option('--allowed-origin <origin>', 'a web origin (https://app.example.com) whose pages may connect, or "*"; repeat or separate with commas (default: loopback origins only)').argParser(collectOrigins))
    .addOption(new Option('--max-store-bytes <bytes>', 'most bytes the store may hold; then persistent writes get STORE_FULL (default: what it holds + 90% of the free disk)').env('LINDEN_MAX_STORE_BYTES').argParser(integer(1)))
    .action(action(serve));
}

async function serve(flags: ServeFlags, command: Command): Promise<void> {
  const options = toBrokerOptions(flags, (flag) => command.getOptionValueSource(flag) === 'cli');
  let broker: Broker;
  try {
    broker = await startBroker(options);
  } catch (err) {
    if (err instanceof LindenError) throw err;
    throw new CliError(`cannot start broker: ${(err as Error).message}`); // e.g. EADDRINUSE
  }
  // The broker has logged `broker listening` with its URL and whoever read it may signal us at
  // once: install the handlers before anything else is awaited (signals arrive as macrotasks).
  stopOnSignals(broker);
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

function stopOnSignals(broker: Broker): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C means the user will not wait for slow peers to close.
      broker.log.warn({ signal }, 'signal received again: exiting without waiting');
      process.exit(EXIT.FAILURE);
    }
    stopping = true;
    // A log line like every other the broker writes, so operators read one format.
    broker.log.info({ signal }, 'signal received: closing broker');
    broker.close().then(() => finish(EXIT.OK), (err: unknown) => {
      broker.log.error({ err }, 'closing the broker failed');
      finish(EXIT.FAILURE);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
