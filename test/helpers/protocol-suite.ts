import { rawClients, type RawClients } from './raw-client.js';
import { testBroker, type TestBroker } from './setup.js';

/**
 * A broker and raw clients for a black-box test file. After each test both are closed, and the
 * test fails if the broker sent anything but well-formed frames (arrays, the right frame kind for
 * the codec): `const { t, raw } = protocolSuite();` at the top of the file.
 */
export function protocolSuite(): { t: TestBroker; raw: RawClients } {
  const t = testBroker();
  const raw = rawClients();
  afterEach(async () => {
    const violations = raw.violations();
    await raw.closeAll();
    await t.cleanup();
    expect(violations).toEqual([]);
  });
  return { t, raw };
}
