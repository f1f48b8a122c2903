/**
 * Every expected failure of every subcommand ends in one line on stderr, no stack trace, and the
 * exit code README's "Command line" section documents: 1 when the broker is unreachable, refuses
 * or lacks a name; 2 for a usage error, including a bad --url and an invalid topic, pattern, name,
 * tuple or template. Also: `--json` output is JSON Lines everywhere.
 */
import { readFileSync } from 'node:fs';
import { EXIT } from '../cli/common.js';
import { ChildTracker, failure, type Exit } from './helpers/child-process.js';
import { CLI_MAIN } from './helpers/serve-process.js';
import { freePort, testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

const t = testBroker();
const children = new ChildTracker();

// The tests that start a CLI process per subcommand, all at once, give slow machines room.
const MANY = 90_000;

/** Runs the CLI to completion; a developer's own LINDEN_URL must not steer it. */
function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return children.spawn(CLI_MAIN, args, env, ['LINDEN_URL']).exited;
}

/** Runs each command line (with `--url url` appended) at once; resolves with its failure() each. */
async function runAll(commands: readonly string[][], url: string) {
  const exits = await Promise.all(commands.map((args) => run([...args, '--url', url])));
  return exits.map((exit, i) => ({ command: commands[i]!.join(' '), ...failure(exit) }));
}

/** What `runAll` resolves with when every command failed with `code` and one line matching `line`. */
function oneLine(commands: readonly string[][], code: number, line: (command: string[]) => string | RegExp) {
  return commands.map((args) => {
    const expected = line(args);
    return {
      command: args.join(' '),
      code,
      stdout: '',
      stderr: [typeof expected === 'string' ? expected : expect.stringMatching(expected)],
      trace: false,
    };
  });
}

/** Every subcommand that talks to a broker, with valid arguments. */
const EVERY_CLIENT_COMMAND: readonly string[][] = [
  ['pub', 'a.b', '1'], ['pub', 'a.b', '1', '--ack', 'submission'], ['sub', 'a.>'], ['sub', 'a.>', '--durable', 'q'],
  ['queue', 'create', 'q', 'a.>'], ['queue', 'delete', 'q'],
  ['out', 'jobs', '["job"]'], ['in', 'jobs', '["job"]'], ['rd', 'jobs', '["job"]', '--all'],
  ['queues'], ['queues', 'q'], ['spaces'], ['space', 'jobs'], ['connections'], ['subscriptions'], ['stats'], ['top', '--once'],
  ['purge', 'q'], ['dlq', 'retry', 'q'], ['kick', 'c1-x'], ['cluster'],
];

let deadUrl: string;

beforeAll(async () => {
  requireBuilt(CLI_MAIN);
  deadUrl = `ws://127.0.0.1:${await freePort()}`;
});

afterEach(async () => {
  await children.killAll();
  await t.cleanup();
});

test('no broker: every client command says it cannot reach the broker, exit 1', async () => {
  const results = await runAll(EVERY_CLIENT_COMMAND, deadUrl);
  const escaped = deadUrl.replace(/[.]/g, '\\.');
  expect(results).toEqual(oneLine(EVERY_CLIENT_COMMAND, 1, () => new RegExp(`^cannot reach broker at ${escaped}: \\S`)));
}, MANY);

test('a --url or LINDEN_URL that is not ws:// or wss:// is a usage error for every command, exit 2', async () => {
  // Each command gets one of the bad URLs in turn: an HTTP one, no URL at all, another scheme.
  const urls = ['http://127.0.0.1:7070', 'foo', 'ftp://example.com'];
  const commands = EVERY_CLIENT_COMMAND.map((args, i) => [...args, '--url', urls[i % urls.length]!]);
  const results = (await Promise.all(commands.map((args) => run(args)))).map((exit, i) => ({ command: commands[i]!.join(' '), ...failure(exit) }));
  expect(results).toEqual(oneLine(commands, 2, (args) =>
    `error: option '--url <ws-url>' argument '${args[args.length - 1]}' is invalid. expected a ws:// or wss:// URL such as ws://127.0.0.1:7070 (run with --help for usage)`));
  const fromEnv = failure(await run(['pub', 'a.b', '1'], { LINDEN_URL: 'https://broker.example' }));
  expect(fromEnv).toEqual({
    code: 2, stdout: '', trace: false,
    stderr: [expect.stringMatching(/^error: option '--url <ws-url>' value 'https:\/\/broker\.example' from env 'LINDEN_URL' is invalid\. /)],
  });
}, MANY);

test('invalid topics, patterns, names, tuples and templates exit 2 before connecting, in the broker\'s words', async () => {
  // The URL leads nowhere: a usage error must not wait for, or depend on, a broker.
  const deep = `[${'['.repeat(40)}1${']'.repeat(40)}]`;
  const cases: Array<[string[], string | RegExp]> = [
    [['pub', 'a..b', '1'], 'error INVALID_TOPIC: invalid topic "a..b": has an empty token at position 1'],
    [['pub', 'a.*', '1'], 'error INVALID_TOPIC: invalid topic "a.*": token "*" contains a wildcard or whitespace'],
    [['pub', 'a.>', '1', '--persistent'], 'error INVALID_TOPIC: invalid topic "a.>": token ">" contains a wildcard or whitespace'],
    [['sub', 'a.>.b'], 'error INVALID_PATTERN: invalid pattern "a.>.b": `>` may only be the last token'],
    [['sub', 'a b'], /^error INVALID_PATTERN: invalid pattern "a b": /],
    [['queue', 'create', 'q', 'a..b'], /^error INVALID_PATTERN: /],
    [['in', 'jobs', '[{"$regex": 5}]'], 'error INVALID_TEMPLATE: $regex takes a pattern string'],
    [['rd', 'jobs', '[{"$regex": "a(?=b)"}]', '--all'], /^error INVALID_TEMPLATE: \$regex pattern is not valid RE2 syntax: lookahead /],
    [['in', 'jobs', '[{"$any": true, "x": 1}]', '--timeout', '0'], /^error INVALID_TEMPLATE: an operator object has exactly one key/],
    [['out', 'jobs', deep], /^error INVALID_TUPLE: field 0(\.0)* nests deeper than 32 levels$/],
    [['out', 'no spaces', '["job"]'], /^error INVALID_ARGUMENT: invalid space name "no spaces": /],
    [['in', '.jobs', '["job"]'], /^error INVALID_ARGUMENT: invalid space name "\.jobs": /],
    [['space', 'no spaces'], /^error INVALID_ARGUMENT: invalid space name /],
    [['queues', 'no spaces'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['queue', 'create', 'no spaces', 'a.>'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['queue', 'delete', 'no spaces'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['sub', 'a.>', '--durable', 'no spaces'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['purge', 'no spaces'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['dlq', 'retry', 'no spaces'], /^error INVALID_ARGUMENT: invalid queue name /],
    [['pub', 'a.b', '{not json'], /^invalid JSON in <json> argument: /],
    [['out', 'jobs', '["job"'], /^invalid JSON in <json-tuple> argument: /],
    [['in', 'jobs', '[]'], /^<json-template> must be a non-empty JSON array/],
    [['pubb', 'a.b', '1'], "error: unknown command 'pubb' (Did you mean pub?)"],
    [['pub', 'a.b'], "error: missing required argument 'json' (run with --help for usage)"],
    [['sub', 'a.b', '--count', 'many'], /^error: option '--count <n>' argument 'many' is invalid\. /],
  ];
  const commands = cases.map(([args]) => args);
  const results = await runAll(commands, deadUrl);
  expect(results).toEqual(oneLine(commands, 2, (args) => cases.find(([a]) => a === args)![1]));
}, MANY);

test('a name the broker does not have: one wording for every command, exit 1', async () => {
  const broker = await t.start();
  const missing = (kind: string, name: string) => `${kind} "${name}" does not exist on the broker at ${broker.url}`;
  const cases: Array<[string[], string]> = [
    [['queues', 'nope'], missing('queue', 'nope')],
    [['space', 'nope'], missing('space', 'nope')],
    [['queue', 'delete', 'nope'], missing('queue', 'nope')],
    [['purge', 'nope'], missing('queue', 'nope')],
    [['dlq', 'retry', 'nope'], missing('queue', 'nope')],
    [['kick', 'c9-nope'], missing('connection', 'c9-nope')],
    // Dead-letter queues are the broker's to make: naming one of a queue that does not exist.
    [['sub', 'a.>', '--durable', 'nope.dlq'], `${missing('queue', 'nope.dlq')}: there is no queue "nope" whose dead letters it would hold`],
    [['queue', 'create', 'nope.dlq', 'a.>'], `${missing('queue', 'nope.dlq')}: there is no queue "nope" whose dead letters it would hold`],
    [['purge', 'nope.dlq'], missing('queue', 'nope.dlq')],
  ];
  const commands = cases.map(([args]) => args);
  expect(await runAll(commands, broker.url)).toEqual(oneLine(commands, 1, (args) => cases.find(([a]) => a === args)![1]));
}, MANY);

test('sub --durable ends with exit 1 and one line when its queue is deleted under it', async () => {
  const broker = await t.start();
  const sub = children.spawn(CLI_MAIN, ['sub', 'work.>', '--durable', 'work', '--url', broker.url], {}, ['LINDEN_URL']);
  await sub.line('stderr', 'subscribed to work.> in durable queue work');
  await (await t.client()).deleteQueue('work');
  expect(failure(await sub.exited)).toEqual({
    code: 1, stdout: '', trace: false,
    stderr: ['subscribed to work.> in durable queue work', `queue "work" does not exist on the broker at ${broker.url} any more: it was deleted`],
  });
});

test('a payload or tuple over the broker\'s maxMessageBytes is refused with exit 1', async () => {
  const broker = await t.start({ maxMessageBytes: 1024 });
  const big = JSON.stringify('x'.repeat(2_000));
  const commands = [['pub', 'a.b', big], ['pub', 'a.b', big, '--ack', 'delivery'], ['pub', 'a.b', big, '--persistent'], ['out', 'jobs', `[${big}]`]];
  expect(await runAll(commands, broker.url)).toEqual(oneLine(commands, 1, () => /^error MESSAGE_TOO_LARGE: (payload|tuple) of \d+ bytes exceeds maxMessageBytes \(1024\)$/));
});

test('--json prints JSON Lines: one compact object per line, a list one line per element', async () => {
  const broker = await t.start();
  const c = await t.client({ name: 'lister' });
  await c.createQueue('a', 'a.>');
  await c.createQueue('b', 'b.>');
  await c.space('jobs').out(['job', 1]);
  const url = ['--url', broker.url];

  const lines = async (args: string[]) => {
    const r = await run([...args, ...url]);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: expect.any(String) });
    const out = r.stdout.split('\n');
    expect(out.pop()).toBe('');
    return out.map((l) => {
      const value = JSON.parse(l) as Record<string, unknown>;
      expect({ args, line: l, isObject: typeof value === 'object' && value !== null && !Array.isArray(value) }).toEqual({ args, line: l, isObject: true });
      // Compact: no pretty-printing (which would put each field on a line of its own).
      expect(l).toBe(JSON.stringify(value));
      return value;
    });
  };

  expect((await lines(['queues', '--json'])).map((q) => q.name).sort()).toEqual(['a', 'b']);
  expect(await lines(['spaces', '--json'])).toEqual([expect.objectContaining({ name: 'jobs', tuples: 1 })]);
  expect(await lines(['connections', '--json'])).toEqual([expect.objectContaining({ name: 'lister' })]);
  expect(await lines(['subscriptions', '--json'])).toEqual([]);
  expect(await lines(['queues', 'a', '--json'])).toEqual([expect.objectContaining({ name: 'a', pattern: 'a.>' })]);
  expect(await lines(['space', 'jobs', '--json'])).toEqual([expect.objectContaining({ name: 'jobs' })]);
  expect(await lines(['stats', '--json'])).toEqual([expect.objectContaining({ status: 'ok' })]);
  expect(await lines(['top', '--once', '--json'])).toEqual([expect.objectContaining({ connections: 1 })]);
  expect(await lines(['purge', 'a', '--json'])).toEqual([{ purged: 0 }]);
  expect(await lines(['dlq', 'retry', 'a', '--json'])).toEqual([{ moved: 0, remaining: 0 }]);
  expect(await lines(['out', 'jobs', '["job", 2]', '--json'])).toEqual([expect.objectContaining({ id: expect.any(String), expiresAt: null })]);
  expect(await lines(['pub', 'a.x', '1', '--ack', 'submission'])).toEqual([expect.objectContaining({ stage: 'submission' })]);
});

test('README\'s "Command line" section lists every exit code the CLI uses, and no other', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Command line\n'), readme.indexOf('\n## Inspecting a running broker\n'));
  const documented = [...section.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
  expect(documented).toEqual(Object.values(EXIT));
});
