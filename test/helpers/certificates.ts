import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Test certificates made with the `openssl` command (Debian's openssl package; node:crypto
 * cannot issue X.509 certificates): a private CA and server certificates it signs, valid for
 * 127.0.0.1, ::1 and localhost. EC P-256 keys, so generating them takes milliseconds.
 */

const run = promisify(execFile);

export interface CertificateAuthority {
  name: string;
  certPath: string;
  keyPath: string;
  /** The CA certificate in PEM, as a client passes it in `tls.ca`. */
  pem: string;
}

export interface ServerCertificate {
  certPath: string;
  keyPath: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the TLS tests need the openssl command: apt-get install -y openssl');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** A self-signed CA in `dir`, its files named after `name`. */
export async function makeCa(dir: string, name: string): Promise<CertificateAuthority> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...KEY, '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=Linden test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { name, certPath, keyPath, pem: await readFile(certPath, 'utf8') };
}

/** A server certificate signed by `ca`, for 127.0.0.1, ::1 and localhost, written to `dir`/`name`.pem and .key. */
export async function makeServerCert(dir: string, ca: CertificateAuthority, name: string): Promise<ServerCertificate> {
  const certPath = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const extPath = join(dir, `${name}.ext`);
  await openssl(['req', ...KEY, '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=localhost`]);
  await writeFile(extPath, [
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await openssl(['x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', serial, '-days', '2', '-out', certPath, '-extfile', extPath]);
  return { certPath, keyPath };
}

/** Two CAs with a server certificate each, and the paths a broker under test reads (`live`). */
export interface TwoAuthorities {
  dir: string;
  ca1: CertificateAuthority;
  ca2: CertificateAuthority;
  server1: ServerCertificate;
  server2: ServerCertificate;
  /** The files the broker under test reads; tests overwrite them to rotate the certificate. */
  live: { cert: string; key: string };
}

/**
 * The certificates of a TLS test file, made once before its tests in a folder of their own that
 * is removed after them. Call at the top of the file; the fields are set once the tests run.
 */
export function twoAuthorities(prefix: string): TwoAuthorities {
  const pki = {} as TwoAuthorities;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const [ca1, ca2] = await Promise.all([makeCa(dir, 'ca1'), makeCa(dir, 'ca2')]);
    const [server1, server2] = await Promise.all([makeServerCert(dir, ca1, 'server1'), makeServerCert(dir, ca2, 'server2')]);
    Object.assign(pki, { dir, ca1, ca2, server1, server2, live: { cert: join(dir, 'live.pem'), key: join(dir, 'live.key') } });
  });
  afterAll(async () => {
    if (pki.dir) await rm(pki.dir, { recursive: true, force: true });
  });
  return pki;
}
