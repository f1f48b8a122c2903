/**
 * `linden serve` configuration from three places (issue 13): a --config file, LINDEN_* variables
 * and flags, over the defaults, all made from server/option-specs.ts and checked by one schema.
 * The sources are tested in-process through the functions serve uses; the compiled CLI runs only
 * for --print-config, one failure and an interceptor module loaded from a config file.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { connect, LindenError } from '../client-sdk/index.js';
import { CliError, EXIT } from '../cli/common.js';
import { addOptionFlags, type FlagValues } from '../cli/config/flags.js';
import { SPELLINGS } from '../cli/config/names.js';
import { optionTable, withOptionTable } from '../cli/config/option-table.js';
import { configRows, type ConfigRow } from '../cli/config/print-config.js';
import { brokerOptions, configFrom, type ResolvedConfig } from '../cli/config/resolve-config.js';
import { OPTION_NAMES, REDACTED, specOf, type OptionName } from '../server/option-specs.js';
import { resolveOptions } from '../server/options.js';
import { ChildTracker, failure, type Exit } from './helpers/child-process.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { requireBuilt } from './helpers/built.js';

const children = new ChildTracker();
let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'linden-config-')); });
afterEach(async () => {
  await children.killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** The flags as `linden serve` parses them. */
function flagsOf(argv: string[]): FlagValues {
  const command = new Command().exitOverride();
  const read = addOptionFlags(command);
  command.parse(argv, { from: 'user' });
  return read();
}

/** A config file in the test's folder (or a subfolder); returns its path. */
function file(content: object, name = 'linden.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

interface Given { file?: string; env?: Record<string, string>; argv?: string[]; otherEnv?: string[] }

function configOf(given: Given): ResolvedConfig {
  return configFrom({ configFile: given.file, env: given.env ?? {}, flags: flagsOf(given.argv ?? []), otherEnv: new Set(given.otherEnv), cwd: dir }).config;
}

/** The one usage error `linden serve` would print, or a failure if there is none. */
function problem(given: Given): string {
  try {
    configOf(given);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.USAGE);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

/** option → [value, source] for the options named. */
function picked(config: ResolvedConfig, names: OptionName[]): Record<string, [unknown, string]> {
  return Object.fromEntries(names.map((n) => [n, [config.get(n)!.value, config.get(n)!.source]]));
}

describe('each source alone', () => {
  test('a config file: the names and shape of startBroker()', () => {
    const config = configOf({ file: file({ maxFrameBytes: 65_536, allowedOrigins: ['https://a.example'] }) });
    expect(picked(config, ['maxFrameBytes', 'allowedOrigins', 'port'])).toEqual({
      maxFrameBytes: [65_536, 'file'], allowedOrigins: [['https://a.example'], 'file'], port: [7070, 'default'],
    });
  });

  test('LINDEN_* variables: lists comma-separated or JSON, objects as JSON, tls by part; an empty one is unset', () => {
    const config = configOf({
      env: {
        LINDEN_MAX_FRAME_BYTES: '65536', LINDEN_ALLOWED_ORIGINS: 'https://a.example, https://b.example', LINDEN_METRICS_AUTH: 'true',
        LINDEN_AUTH: '{"users":[{"user":"a","password":"plain:x"}]}', LINDEN_TLS_CERT: 'c.pem', LINDEN_TLS_KEY: '/etc/k.pem', LINDEN_HOST: '',
      },
    });
    expect(picked(config, ['maxFrameBytes', 'allowedOrigins', 'metricsAuth', 'auth', 'tls', 'host'])).toEqual({
      maxFrameBytes: [65_536, 'env'],
      allowedOrigins: [['https://a.example', 'https://b.example'], 'env'],
      metricsAuth: [true, 'env'],
      auth: [{ users: [{ user: 'a', password: 'plain:x' }] }, 'env'],
      tls: [{ cert: join(dir, 'c.pem'), key: '/etc/k.pem' }, 'env'],
      host: ['127.0.0.1', 'default'],
    });
    expect(configOf({ env: { LINDEN_ALLOWED_ORIGINS: '[]' } }).get('allowedOrigins')!.value).toEqual([]);
  });

  test('flags: kebab-case names, lists repeatable and comma-separated, the historical --data, --memory, --tls-cert/--tls-key', () => {
    const config = configOf({
      argv: ['--max-frame-bytes', '65536', '--allowed-origin', 'https://a.example,https://b.example', '--allowed-origin', 'https://c.example',
        '--metrics-auth', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--data', 'store', '--log-level', 'warn'],
    });
    expect(picked(config, ['maxFrameBytes', 'allowedOrigins', 'metricsAuth', 'tls', 'dataDir', 'logLevel'])).toEqual({
      maxFrameBytes: [65_536, 'flag'],
      allowedOrigins: [['https://a.example', 'https://b.example', 'https://c.example'], 'flag'],
      metricsAuth: [true, 'flag'],
      tls: [{ cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') }, 'flag'],
      dataDir: [join(dir, 'store'), 'flag'],
      logLevel: ['warn', 'flag'],
    });
    expect(picked(configOf({ argv: ['--memory'] }), ['dataDir'])).toEqual({ dataDir: [undefined, 'flag'] });
    expect(picked(configOf({}), ['dataDir', 'interceptors'])).toEqual({ dataDir: [join(dir, 'linden-data'), 'default'], interceptors: [['fragmentation'], 'default'] });
  });

  test('relative paths: from the config file\'s folder in the file, from the working directory elsewhere', () => {
    mkdirSync(join(dir, 'etc'));
    const path = file({ dataDir: 'store', tls: { cert: 'c.pem', key: '../k.pem' }, interceptors: ['./x.mjs', 'fragmentation'] }, 'etc/linden.json');
    expect(picked(configOf({ file: path }), ['dataDir', 'tls', 'interceptors'])).toEqual({
      dataDir: [join(dir, 'etc', 'store'), 'file'],
      tls: [{ cert: join(dir, 'etc', 'c.pem'), key: join(dir, 'k.pem') }, 'file'],
      interceptors: [[join(dir, 'etc', 'x.mjs'), 'fragmentation'], 'file'],
    });
    expect(configOf({ env: { LINDEN_INTERCEPTORS: './x.mjs' } }).get('interceptors')!.value).toEqual([join(dir, 'x.mjs')]);
  });
});

test('precedence: flags > environment > file > defaults, each option taken whole from one place', () => {
  const config = configOf({
    file: file({ port: 1, maxArity: 10, heartbeatMs: 1000, maxFrameBytes: 20_000, dataDir: 'a', auth: { anonymous: true, users: [{ user: 'f', token: 'plain:t' }] } }),
    env: { LINDEN_PORT: '2', LINDEN_MAX_ARITY: '11', LINDEN_HEARTBEAT_MS: '2000', LINDEN_DATA_DIR: 'b', LINDEN_AUTH: '{"users":[{"user":"e","password":"plain:p"}]}' },
    argv: ['--port', '3', '--heartbeat-ms', '3000', '--memory'],
  });
  expect(picked(config, ['port', 'heartbeatMs', 'maxArity', 'maxFrameBytes', 'maxMessageBytes', 'dataDir', 'auth'])).toEqual({
    port: [3, 'flag'],
    heartbeatMs: [3000, 'flag'],
    maxArity: [11, 'env'],
    maxFrameBytes: [20_000, 'file'],
    maxMessageBytes: [64 * 1024 * 1024, 'default'],
    dataDir: [undefined, 'flag'],
    auth: [{ users: [{ user: 'e', password: 'plain:p' }] }, 'env'],
  });
});

describe('errors name the option and where it came from, on one line, exit 2', () => {
  test('from each source', () => {
    const path = file({ auth: { users: [{ user: '', password: 'plain:x' }] }, maxFrameByte: 1 });
    expect(problem({ env: { LINDEN_MAX_FRAME_BYTES: '100' } })).toBe('LINDEN_MAX_FRAME_BYTES: must be >= 16384');
    expect(problem({ argv: ['--max-frame-bytes', '1k'] })).toBe('--max-frame-bytes: must be integer');
    expect(problem({ file: path })).toBe(`${path}: unknown option "maxFrameByte" (did you mean maxFrameBytes?); ${path}: auth.users[0].user: must NOT have fewer than 1 characters`);
    expect(problem({ argv: ['--log-level', 'loud'] })).toBe('--log-level: must be one of fatal, error, warn, info, debug, trace, silent');
    expect(problem({ argv: ['--metrics-auth', 'yes'] })).toBe('--metrics-auth: must be boolean');
    expect(problem({ env: { LINDEN_AUTH: '{"users":[{"user":"a"}]}' } })).toBe('LINDEN_AUTH: users[0]: needs a password or a token');
    expect(problem({ env: { LINDEN_AUTH: '{users' } })).toMatch(/^LINDEN_AUTH: is not JSON: /);
    expect(problem({ env: { LINDEN_ALLOWED_ORIGINS: 'https://a.example,https://b.example/x' } }))
      .toBe('LINDEN_ALLOWED_ORIGINS[1]: must be "*" or an origin such as https://app.example.com (scheme, host, optional port; no path), not "https://b.example/x"');
    expect(problem({ env: { LINDEN_TLS_CERT: 'c.pem' } })).toBe('LINDEN_TLS_CERT and LINDEN_TLS_KEY go together: LINDEN_TLS_KEY is missing');
    expect(problem({ argv: ['--tls-key', 'k.pem'] })).toBe('--tls-cert and --tls-key go together: --tls-cert is missing');
    expect(problem({ argv: ['--tls-cert', '', '--tls-key', 'k.pem'] })).toBe('--tls-cert: must NOT have fewer than 1 characters');
    // Every problem of every source at once.
    expect(problem({ env: { LINDEN_PORT: '70000' }, argv: ['--max-arity', '0'] })).toBe('LINDEN_PORT: must be <= 65535; --max-arity: must be >= 1');
  });

  test('a file that cannot be read or is not a JSON object', () => {
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ auth');
    expect(problem({ file: notJson })).toMatch(new RegExp(`^${notJson} is not JSON: `));
    expect(problem({ file: file([1]) })).toBe(`${join(dir, 'linden.json')} must hold a JSON object of broker options`);
    expect(problem({ file: join(dir, 'none.json') })).toBe(`cannot read ${join(dir, 'none.json')}: ENOENT`);
  });

  test('interceptors that cannot be loaded', async () => {
    writeFileSync(join(dir, 'nothing.mjs'), 'export default 42;\n');
    const failed = async (given: Given): Promise<string> => {
      const err = await brokerOptions(configOf(given)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(EXIT.USAGE);
      return (err as Error).message;
    };
    expect(await failed({ env: { LINDEN_INTERCEPTORS: 'fragmentation,tracing' } }))
      .toBe('LINDEN_INTERCEPTORS[1]: unknown interceptor "tracing": "fragmentation" is the built-in; name a module by its path, such as ./my-interceptor.js');
    const path = file({ interceptors: ['./missing.mjs'] });
    expect(await failed({ file: path })).toMatch(new RegExp(`^${path}: interceptors\\[0\\]: cannot load ${join(dir, 'missing.mjs')}: `));
    expect(await failed({ argv: ['--interceptors', './nothing.mjs'] }))
      .toBe(`--interceptors[0]: ${join(dir, 'nothing.mjs')}: the default export is not an interceptor (an object with a name and hooks) nor a function returning one`);
  });
});

test('LINDEN_* names that are no option get a warning, with the option they look like; those of other commands none', () => {
  const { warnings } = configFrom({
    configFile: undefined, flags: flagsOf([]), cwd: dir, otherEnv: new Set(['LINDEN_URL', 'LINDEN_TOKEN']),
    env: { LINDEN_MAX_FRAME_BYTE: '65536', LINDEN_URL: 'ws://x:1', LINDEN_TOKEN: 't', LINDEN_COLOUR: 'blue', PATH: '/bin' },
  });
  expect(warnings).toEqual([
    'warning: LINDEN_MAX_FRAME_BYTE is not a broker option and is ignored (did you mean LINDEN_MAX_FRAME_BYTES?)',
    'warning: LINDEN_COLOUR is not a broker option and is ignored',
  ]);
});

/** A valid value of each option, as a config file writes it: made from its schema where that is enough. */
function sample(option: OptionName): unknown {
  const samples: Partial<Record<OptionName, unknown>> = {
    dataDir: join(dir, 'store'),
    redis: 'redis://127.0.0.1:6399',
    interceptors: ['fragmentation'],
    tls: { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') },
    allowedOrigins: ['https://a.example', 'https://b.example'],
    auth: { users: [{ user: 'a', password: 'plain:x' }] },
  };
  if (option in samples) return samples[option];
  const spec = specOf(option);
  const schema = spec.configSchema ?? spec.schema;
  if (Array.isArray(schema.enum)) return schema.enum.find((v) => v !== spec.default);
  if (schema.type === 'integer') return ((schema.minimum as number | undefined) ?? 0) + 1;
  if (schema.type === 'boolean') return !spec.default;
  if (schema.type === 'string') return 'localhost';
  throw new Error(`give the test a sample value of option ${option}`);
}

/** The sample as LINDEN_* and flags write it. */
function sampleText(option: OptionName, part: string | undefined): string {
  const value = sample(option);
  if (part !== undefined) return (value as Record<string, string>)[part]!;
  return Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

test('every startBroker() option is reachable from each source, and startBroker() accepts what serve makes of it', async () => {
  const help = (() => {
    const command = new Command();
    addOptionFlags(command);
    return command.helpInformation();
  })();
  for (const option of OPTION_NAMES) {
    const spellings = SPELLINGS.filter((s) => s.option === option);
    for (const s of spellings) expect({ option, flag: s.flag, inHelp: help.includes(`${s.flag} `) }).toEqual({ option, flag: s.flag, inHelp: true });
    const bySource: Record<string, ResolvedConfig> = {
      file: configOf({ file: file({ [option]: sample(option) }) }),
      env: configOf({ env: Object.fromEntries(spellings.map((s) => [s.env, sampleText(option, s.part)])) }),
      flag: configOf({ argv: spellings.flatMap((s) => [s.flag, sampleText(option, s.part)]) }),
    };
    for (const [source, config] of Object.entries(bySource)) {
      expect({ option, source, ...config.get(option) }).toMatchObject({ option, source, value: sample(option) });
      const resolved = resolveOptions(await brokerOptions(config)) as unknown as Record<string, unknown>;
      const expected = option === 'interceptors' ? ['fragmentation'] : sample(option);
      const got = option === 'interceptors' ? (resolved.interceptors as Array<{ name: string }>).map((i) => i.name) : resolved[option];
      expect({ option, source, got }).toEqual({ option, source, got: expected });
    }
  }
});

test('--print-config rows: the source of every option, secrets redacted', () => {
  const config = configOf({
    file: file({ auth: { anonymous: true, users: [{ user: 'a', password: 'plain:x' }, { user: 'b', token: 'plain:t' }], jwt: { publicKey: 'PEM', issuer: 'idp' } } }),
    env: { LINDEN_MAX_ARITY: '9', LINDEN_REDIS: 'redis://linden:s3cret@redis.internal:6379?wait=1' },
    argv: ['--port', '0'],
  });
  const rows = configRows(config);
  expect(rows.map((r) => r.option)).toEqual(OPTION_NAMES);
  const by = (option: string): ConfigRow => rows.find((r) => r.option === option)!;
  expect([by('port'), by('maxArity'), by('host'), by('tls')]).toEqual([
    { option: 'port', value: 0, source: 'flag' },
    { option: 'maxArity', value: 9, source: 'env' },
    { option: 'host', value: '127.0.0.1', source: 'default' },
    { option: 'tls', value: null, source: 'default' },
  ]);
  expect(by('auth')).toEqual({
    option: 'auth', source: 'file',
    value: { anonymous: true, users: [{ user: 'a', password: REDACTED }, { user: 'b', token: REDACTED }], jwt: { publicKey: REDACTED, issuer: 'idp' } },
  });
  // A Redis URL keeps its user and host, not its password.
  const redis = (url: string) => configRows(configOf({ env: { LINDEN_REDIS: url } })).find((r) => r.option === 'redis')!.value;
  expect(redis('redis://linden:s3cret@redis.internal:6379/0')).toBe(`redis://linden:${REDACTED}@redis.internal:6379/0`);
  expect(redis('rediss://s3cret@redis.internal:6380')).toBe(`rediss://${REDACTED}@redis.internal:6380`);
  expect(redis('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  expect(by('redis')).toEqual({ option: 'redis', source: 'env', value: `redis://linden:${REDACTED}@redis.internal:6379?wait=1` });
});

test('README\'s option table is the one made from server/option-specs.ts (`npm run docs` rewrites it)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  if (withOptionTable(readme) !== readme) {
    throw new Error(`README.md's option table differs from server/option-specs.ts: run \`npm run docs\`. Expected:\n${optionTable()}`);
  }
});

test('README\'s sample config file and interceptor module load as they are', async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n### Configuration\n'), readme.indexOf('\n### Signals and drain\n'));
  const block = (language: string): string => new RegExp(`\`\`\`${language}\n([^]*?)\`\`\`\n`).exec(section)![1]!;
  writeFileSync(join(dir, 'audit.mjs'), block('js'));
  const path = join(dir, 'linden.json');
  writeFileSync(path, block('json'));
  const config = configOf({ file: path });
  expect(config.get('interceptors')!.value).toEqual([join(dir, 'audit.mjs'), 'fragmentation']);
  const options = await brokerOptions(config);
  expect(options.interceptors!.map((i) => i.name)).toEqual(['audit', 'fragmentation']);
});

describe('the compiled CLI', () => {
  beforeAll(() => {
    requireBuilt(CLI_MAIN);
  });

  function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
    return children.spawn(CLI_MAIN, args, env, ['LINDEN_URL', 'LINDEN_CONFIG']).exited;
  }

  test('serve --print-config prints every option and its source without starting; --json as JSON Lines', async () => {
    const path = file({ maxFrameBytes: 65_536, auth: { users: [{ user: 'a', password: 'plain:secret' }] } });
    const env = { LINDEN_MAX_ARITY: '9', LINDEN_URL: 'ws://127.0.0.1:1', LINDEN_TOKEN: 't', LINDEN_MAX_ARTY: '1' };
    const [json, text] = await Promise.all([
      run(['serve', '--print-config', '--json', '--config', path, '--port', '0', '--memory'], env),
      run(['serve', '--print-config', '--config', path, '--port', '0'], env),
    ]);
    const warning = 'warning: LINDEN_MAX_ARTY is not a broker option and is ignored (did you mean LINDEN_MAX_ARITY?)\n';
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: warning });
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as ConfigRow);
    expect(rows.map((r) => r.option)).toEqual(OPTION_NAMES);
    expect(rows.filter((r) => r.source !== 'default')).toEqual([
      { option: 'port', value: 0, source: 'flag' },
      { option: 'maxFrameBytes', value: 65_536, source: 'file' },
      { option: 'maxArity', value: 9, source: 'env' },
      { option: 'dataDir', value: null, source: 'flag' },
      { option: 'auth', value: { users: [{ user: 'a', password: REDACTED }] }, source: 'file' },
    ]);
    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: warning });
    expect(text.stdout).not.toContain('secret');
    expect(text.stdout).toMatch(/^maxArity +env LINDEN_MAX_ARITY +9$/m);
    expect(text.stdout).toMatch(new RegExp(`^maxFrameBytes +file ${path} +65536$`, 'm'));
    expect(text.stdout).toMatch(/^host +default +"127\.0\.0\.1"$/m);
  });

  test('a bad value is one line naming its source, exit 2', async () => {
    const exit = await run(['serve', '--memory', '--port', '0'], { LINDEN_MAX_FRAME_BYTES: '100' });
    expect(failure(exit)).toEqual({ code: 2, stdout: '', stderr: ['LINDEN_MAX_FRAME_BYTES: must be >= 16384'], trace: false });
  });

  test('an interceptor module named in the config file runs in the broker', async () => {
    mkdirSync(join(dir, 'etc'));
    // A factory, as the default export may be; a plain Error from a hook reaches the client as INTERNAL_ERROR.
    writeFileSync(join(dir, 'etc', 'block.mjs'), [
      'export default () => ({',
      '  name: "block",',
      '  inbound(frame) { if (frame.t === "pub" && frame.topic === "blocked") throw new Error("blocked by the interceptor"); },',
      '});',
    ].join('\n'));
    const path = file({ interceptors: ['./block.mjs', 'fragmentation'] }, 'etc/linden.json');
    const { url } = await serveProcess(children, ['--memory', '--log-level', 'warn', '--config', path]);
    const client = await connect(url);
    try {
      await expect(client.publish('open', 1, { ack: 'submission' })).resolves.toMatchObject({ stage: 'submission' });
      const refused = await client.publish('blocked', 1, { ack: 'submission' }).then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(LindenError);
      expect((refused as LindenError).code).toBe('INTERNAL_ERROR');
    } finally {
      await client.close();
    }
  });
});
