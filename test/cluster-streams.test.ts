/**
 * Cluster mode has no replayable streams in this version (protocol.md §9.10): every stream
 * operation is refused with STREAMS_UNSUPPORTED, and persistent publishes go on as before.
 */
import { httpGet } from '../cli/http-get.js';
import { testCluster } from './helpers/cluster.js';
import { RedisServer } from './helpers/redis-server.js';

let redis: RedisServer;
const t = testCluster();

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.destroy();
});
afterEach(() => t.cleanup());

test('a broker with redis refuses stream operations with STREAMS_UNSUPPORTED', async () => {
  const [broker] = await t.start(redis.url, 1);
  const c = await t.client(0);
  await expect(c.createStream('s', 'x.>')).rejects.toMatchObject({ code: 'STREAMS_UNSUPPORTED' });
  await expect(c.deleteStream('s')).rejects.toMatchObject({ code: 'STREAMS_UNSUPPORTED' });
  await expect(c.streamInfo('s')).rejects.toMatchObject({ code: 'STREAMS_UNSUPPORTED' });
  await expect(c.admin({ op: 'streams' })).rejects.toMatchObject({ code: 'STREAMS_UNSUPPORTED' });
  await expect(c.subscribe('x.>', { stream: 's' }).ready).rejects.toMatchObject({ code: 'STREAMS_UNSUPPORTED' });
  const api = await httpGet(broker!.url.replace('ws:', 'http:') + '/api/streams', { timeoutMs: 5_000 });
  expect(api.status).toBe(501);
  expect(JSON.parse(api.text)).toMatchObject({ error: 'STREAMS_UNSUPPORTED' });
  // Persistent publishing is untouched.
  await c.createQueue('q', 'x.>');
  expect(await c.publish('x.a', 1, { mode: 'persistent', ack: 'submission' })).toMatchObject({ queues: ['q'] });
});
