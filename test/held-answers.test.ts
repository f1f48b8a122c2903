import { Redis } from 'ioredis';
import { HeldAnswers } from '../server/cluster/held-answers.js';
import { disconnectRedis } from '../server/cluster/redis-target.js';
import { RedisServer } from './helpers/redis-server.js';
import { until } from './helpers/setup.js';

// A node's answers to another while its command connection is not ready yet (Redis just came back).
let redis: RedisServer;
let listener: Redis;
let commands: Redis;
const heard: string[] = [];

beforeEach(async () => {
  redis = await RedisServer.start();
  listener = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  listener.on('smessageBuffer', (_channel: Buffer, message: Buffer) => heard.push(message.toString()));
  await listener.ssubscribe('answers');
  // Like the node's command connection: no offline queue, and not ready until connect().
  commands = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  heard.length = 0;
});
afterEach(async () => {
  await Promise.all([disconnectRedis(listener), disconnectRedis(commands)]);
  await redis.destroy();
});

test('answers given before the connection is ready go out, in order, once it is', async () => {
  const answers = new HeldAnswers(commands);
  answers.publish('answers', Buffer.from('report'));
  answers.publish('answers', Buffer.from('delivered'));
  await commands.connect();
  answers.publish('answers', Buffer.from('processed'));
  await until(() => heard.length === 3);
  expect(heard).toEqual(['report', 'delivered', 'processed']);
});

test('what is held has a ceiling in bytes: the answers past it are dropped', async () => {
  const answers = new HeldAnswers(commands, 60_000, 10);
  answers.publish('answers', Buffer.from('12345'));
  answers.publish('answers', Buffer.from('67890'));
  answers.publish('answers', Buffer.from('dropped'));
  await commands.connect();
  answers.publish('answers', Buffer.from('last')); // sent after the held ones, on the same connection
  await until(() => heard.includes('last'));
  expect(heard).toEqual(['12345', '67890', 'last']);
});
