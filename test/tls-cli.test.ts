/**
 * TLS from the command line (issue 12): `linden serve --tls-cert --tls-key` serves wss:// and
 * reloads its certificate on SIGHUP; client commands trust a private CA given with `--ca` or
 * LINDEN_CA, over the WebSocket and over HTTPS alike. Runs the compiled CLI: `npm run build` first.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Client } from '../client-sdk/index.js';
import { ChildTracker, failure, type Exit } from './helpers/child-process.js';
import { twoAuthorities, type ServerCertificate } from './helpers/certificates.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { testBroker } from './helpers/setup.js';
import { requireBuilt } from './helpers/built.js';

beforeAll(() => requireBuilt(CLI_MAIN));
const pki = twoAuthorities('linden-tls-cli-');

const t = testBroker();
const children = new ChildTracker();
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await children.killAll();
  await t.cleanup();
});

async function install(cert: ServerCertificate): Promise<void> {
  await copyFile(cert.certPath, pki.live.cert);
  await copyFile(cert.keyPath, pki.live.key);
}

/** Runs the CLI to completion; a developer's own LINDEN_URL and LINDEN_CA must not steer it. */
function run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return children.spawn(CLI_MAIN, args, env, ['LINDEN_URL', 'LINDEN_CA', 'NODE_OPTIONS']).exited;
}

async function canConnect(url: string, ca: string): Promise<boolean> {
  try {
    clients.push(await connect(url, { reconnect: false, tls: { ca } }));
    return true;
  } catch {
    return false;
  }
}

describe('linden serve --tls-cert --tls-key', () => {
  test('serves wss:// and, on SIGHUP, the certificate now in the files', async () => {
    await install(pki.server1);
    const serve = await serveProcess(children, ['--memory', '--tls-cert', pki.live.cert, '--tls-key', pki.live.key]);
    expect(serve.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    await serve.child.line('stdout', /"msg":"TLS certificate loaded"/);
    expect(await canConnect(serve.url, pki.ca1.pem)).toBe(true);

    await install(pki.server2);
    serve.child.child.kill('SIGHUP');
    await serve.child.line('stdout', /"issuer":"CN=Linden test CA ca2".*"msg":"TLS certificate reloaded"/);
    expect(await canConnect(serve.url, pki.ca2.pem)).toBe(true);
    expect(await canConnect(serve.url, pki.ca1.pem)).toBe(false);

    // A reload that fails is logged; the broker keeps serving the certificate it has.
    await writeFile(pki.live.cert, 'garbage\n');
    serve.child.child.kill('SIGHUP');
    await serve.child.line('stdout', /"level":50.*"msg":"TLS reload failed: the previous certificate stays"/);
    expect(serve.child.running).toBe(true);
    expect(await canConnect(serve.url, pki.ca2.pem)).toBe(true);
  });

  test('one of --tls-cert and --tls-key without the other is a usage error (exit 2)', async () => {
    const exit = await run(['serve', '--memory', '--port', '0', '--tls-cert', pki.server1.certPath]);
    expect(failure(exit)).toEqual({ code: 2, stdout: '', stderr: ['--tls-cert and --tls-key go together: --tls-key is missing'], trace: false });
  });

  test('files the broker cannot use: INVALID_OPTIONS, exit 1', async () => {
    const exit = await run(['serve', '--memory', '--port', '0', '--log-level', 'silent', '--tls-cert', pki.server1.certPath, '--tls-key', pki.server2.keyPath]);
    expect(failure(exit)).toEqual({ code: 1, stdout: '', stderr: [expect.stringMatching(/^error INVALID_OPTIONS: tls\.key ".*server2\.key" does not go with tls\.cert/)], trace: false });
  });
});

describe('client commands: --ca and LINDEN_CA', () => {
  async function tlsBroker(): Promise<string> {
    await install(pki.server1);
    return (await t.start({ tls: pki.live })).url;
  }

  test('pub (WebSocket) and stats (HTTPS) work with --ca, or with LINDEN_CA', async () => {
    const url = await tlsBroker();
    const runs = await Promise.all([
      run(['pub', 'a.b', '1', '--url', url, '--ca', pki.ca1.certPath]),
      run(['stats', '--json', '--url', url, '--ca', pki.ca1.certPath]),
      run(['pub', 'a.b', '1'], { LINDEN_URL: url, LINDEN_CA: pki.ca1.certPath }),
      run(['queues'], { LINDEN_URL: url, LINDEN_CA: pki.ca1.certPath }),
    ]);
    for (const exit of runs) expect(exit).toMatchObject({ code: 0, stderr: '' });
  });

  test('without the CA, or with another one, exit 1 with one line that says what to do', async () => {
    const url = await tlsBroker();
    const notTrusted = (advice: string): RegExp => new RegExp(`^cannot reach broker at ${url.replace(/\./g, '\\.')}: .*the broker's TLS certificate is not trusted: .*; ${advice}$`);
    const noCa = /give the CA that signed it with --ca <file> \(or LINDEN_CA\)/.source;
    const wrongCa = /the CA given with --ca \(or LINDEN_CA\) did not sign it/.source;
    const [pubNoCa, statsNoCa, pubWrongCa, statsWrongCa] = await Promise.all([
      run(['pub', 'a.b', '1', '--url', url]),
      run(['stats', '--url', url]),
      run(['pub', 'a.b', '1', '--url', url, '--ca', pki.ca2.certPath]),
      run(['stats', '--url', url, '--ca', pki.ca2.certPath]),
    ]);
    expect(failure(pubNoCa)).toEqual({ code: 1, stdout: '', stderr: [expect.stringMatching(notTrusted(noCa))], trace: false });
    expect(failure(statsNoCa)).toEqual({ code: 1, stdout: '', stderr: [expect.stringMatching(notTrusted(noCa))], trace: false });
    expect(failure(pubWrongCa)).toEqual({ code: 1, stdout: '', stderr: [expect.stringMatching(notTrusted(wrongCa))], trace: false });
    expect(failure(statsWrongCa)).toEqual({ code: 1, stdout: '', stderr: [expect.stringMatching(notTrusted(wrongCa))], trace: false });
  });

  test('a --ca file that is missing or holds no certificate is a usage error (exit 2), before connecting', async () => {
    const missing = join(pki.dir, 'missing.pem');
    const [pub, stats] = await Promise.all([run(['pub', 'a.b', '1', '--ca', missing]), run(['stats'], { LINDEN_CA: pki.server1.keyPath })]);
    expect(failure(pub)).toEqual({
      code: 2, stdout: '', stderr: [`error: option '--ca <file>' argument '${missing}' is invalid. cannot read ${missing}: ENOENT (run with --help for usage)`], trace: false,
    });
    expect(failure(stats)).toEqual({
      code: 2, stdout: '', stderr: [expect.stringContaining(`${pki.server1.keyPath} holds no PEM certificate`)], trace: false,
    });
  });
});
