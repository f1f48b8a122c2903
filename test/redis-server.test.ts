import { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis-server.js';

describe('the tests\' own redis-server', () => {
  test('keeps an acknowledged write over SIGKILL with appendfsync always', async () => {
    const server = await RedisServer.start();
    try {
      const a = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      await a.connect();
      await a.set('k', 'v');
      a.disconnect();
      await server.kill();
      await server.restart();
      const b = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      await b.connect();
      expect(await b.get('k')).toBe('v');
      b.disconnect();
    } finally {
      await server.destroy();
    }
  });
});
