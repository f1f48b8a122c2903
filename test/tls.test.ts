/**
 * TLS (issue 12): a broker with `tls` serves wss:// and HTTPS on one port; the SDK verifies the
 * broker's certificate and trusts a private CA only when given it in `tls.ca`; reloadTls()
 * serves a new certificate to new connections. Certificates come from openssl, made per run.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { join } from 'node:path';
import { connect, LindenError, type Client } from '../client-sdk/index.js';
import { startBroker } from '../server/index.js';
import { twoAuthorities, type ServerCertificate } from './helpers/certificates.js';
import { testBroker } from './helpers/setup.js';

const pki = twoAuthorities('linden-tls-');

async function install(cert: ServerCertificate): Promise<void> {
  await copyFile(cert.certPath, pki.live.cert);
  await copyFile(cert.keyPath, pki.live.key);
}

const t = testBroker();
const opened: Client[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
  await t.cleanup();
});

async function startTls(): Promise<string> {
  await install(pki.server1);
  return (await t.start({ tls: pki.live })).url;
}

/** connect() without reconnecting, closed after the test. */
async function open(url: string, ca?: string | Uint8Array | Array<string | Uint8Array>): Promise<Client> {
  const client = await connect(url, { reconnect: false, ...(ca === undefined ? {} : { tls: { ca } }) });
  opened.push(client);
  return client;
}

/** The error connect() rejects with. */
async function refusal(url: string, ca?: string): Promise<LindenError> {
  const err = await open(url, ca).then(() => undefined, (e: unknown) => e);
  if (!(err instanceof LindenError)) throw new Error(`expected a LindenError, got ${String(err)}`);
  return err;
}

/** GET over HTTPS trusting `ca`; resolves with the status and body. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** A round trip through the broker: publish to oneself and receive it. */
async function echo(client: Client, text: string): Promise<string> {
  const sub = client.subscribe<string>(`echo.${client.connectionId}`);
  await sub.ready;
  await client.publish(`echo.${client.connectionId}`, text);
  for await (const m of sub) {
    sub.unsubscribe();
    return m.data;
  }
  throw new Error('subscription ended');
}

describe('wss://', () => {
  test('the broker serves wss:// with the certificate; the SDK connects trusting the CA in tls.ca', async () => {
    const url = await startTls();
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const client = await open(url, pki.ca1.pem);
    expect(await echo(client, 'over TLS')).toBe('over TLS');
  });

  test('tls.ca takes a Buffer, a plain Uint8Array or a list holding the right CA', async () => {
    const url = await startTls();
    const buffer = await readFile(pki.ca1.certPath);
    await open(url, buffer);
    await open(url, new Uint8Array(buffer));
    await open(url, [pki.ca2.pem, pki.ca1.pem]);
  });

  test('without tls.ca the certificate of a private CA is refused: CONNECTION_REFUSED saying so', async () => {
    const url = await startTls();
    const err = await refusal(url);
    expect(err.code).toBe('CONNECTION_REFUSED');
    expect(err.message).toMatch(/the broker's TLS certificate is not trusted: .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  });

  test('a CA that did not sign the certificate is refused the same way', async () => {
    const url = await startTls();
    const err = await refusal(url, pki.ca2.pem);
    expect(err.code).toBe('CONNECTION_REFUSED');
    expect(err.message).toContain("the broker's TLS certificate is not trusted");
  });

  test('a URL naming a host the certificate does not cover is refused', async () => {
    await install(pki.server1);
    const broker = await t.start({ tls: pki.live, host: '127.0.0.2' }); // all of 127/8 is loopback on Linux
    const err = await refusal(broker.url, pki.ca1.pem);
    expect(err.code).toBe('CONNECTION_REFUSED');
    expect(err.message).toContain("the broker's TLS certificate is not valid for this host");
  });

  test('tls of the wrong shape is INVALID_OPTIONS at connect()', async () => {
    const url = await startTls();
    await expect(connect(url, { tls: { ca: 42 } } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(connect(url, { tls: 'ca.pem' } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  test('the HTTP API is HTTPS on the same port: /healthz and /api answer a client trusting the CA', async () => {
    const url = await startTls();
    const base = url.replace(/^wss:/, 'https:');
    const health = await httpsGet(`${base}/healthz`, pki.ca1.pem);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    expect((await httpsGet(`${base}/api/queues`, pki.ca1.pem)).status).toBe(200);
    await expect(httpsGet(`${base}/healthz`, pki.ca2.pem)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

describe('reloadTls()', () => {
  test('new connections get the new certificate; open ones keep theirs and keep working', async () => {
    const url = await startTls();
    const before = await open(url, pki.ca1.pem);
    await install(pki.server2);
    await t.broker.reloadTls();
    expect((await refusal(url, pki.ca1.pem)).message).toContain("the broker's TLS certificate is not trusted");
    const after = await open(url, pki.ca2.pem);
    expect(await echo(after, 'new certificate')).toBe('new certificate');
    expect(await echo(before, 'old connection')).toBe('old connection');
  });

  test('a reload that fails rejects with INVALID_OPTIONS and the previous certificate stays', async () => {
    const url = await startTls();
    await writeFile(pki.live.key, 'not a key\n');
    await expect(t.broker.reloadTls()).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining(pki.live.key) });
    await copyFile(pki.server2.keyPath, pki.live.key); // a key of another certificate
    await expect(t.broker.reloadTls()).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('does not go with') });
    await open(url, pki.ca1.pem);
  });

  test('a broker without tls has nothing to reload: INVALID_OPTIONS', async () => {
    const broker = await t.start();
    expect(broker.url).toMatch(/^ws:\/\//);
    await expect(broker.reloadTls()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});

describe('startBroker({ tls })', () => {
  test('unreadable files, a key that does not match and a malformed option are INVALID_OPTIONS, naming the file', async () => {
    const missing = join(pki.dir, 'missing.pem');
    await expect(startBroker({ port: 0, logLevel: 'silent', tls: { cert: missing, key: pki.server1.keyPath } }))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: `cannot read tls.cert "${missing}": ENOENT` });
    await expect(startBroker({ port: 0, logLevel: 'silent', tls: { cert: pki.server1.keyPath, key: pki.server1.keyPath } }))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining(`tls.cert "${pki.server1.keyPath}" holds no PEM certificate`) });
    await expect(startBroker({ port: 0, logLevel: 'silent', tls: { cert: pki.server1.certPath, key: pki.server2.keyPath } }))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('does not go with') });
    await expect(startBroker({ port: 0, logLevel: 'silent', tls: { cert: pki.server1.certPath } } as never))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('tls: must have required property \'key\'') });
    await expect(startBroker({ port: 0, logLevel: 'silent', tls: { ...pki.live, ca: 'x' } } as never))
      .rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('unknown option "ca"') });
  });
});
