import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { LindenError } from '../protocol/errors.js';
import type { TlsFiles } from './options.js';

/** The PEM contents of the `tls` files, checked to make a usable server identity. */
export interface TlsIdentity {
  cert: Buffer;
  key: Buffer;
  /** What operators need to tell certificates apart in the logs. */
  summary: { subject: string; issuer: string; validTo: string; fingerprint256: string };
}

/**
 * Reads the certificate and key files and checks them the way the TLS server would (both
 * parse, the key belongs to the certificate), so a bad pair is refused here, with the file
 * named, rather than breaking every handshake later.
 */
export async function loadTlsIdentity(files: TlsFiles): Promise<TlsIdentity> {
  const cert = await readPem(files.cert, 'cert');
  const key = await readPem(files.key, 'key');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw invalid(`tls.cert "${files.cert}" holds no PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw invalid(`tls.key "${files.key}" does not go with tls.cert "${files.cert}" (${(err as Error).message})`);
  }
  return {
    cert,
    key,
    summary: { subject: oneLine(leaf.subject), issuer: oneLine(leaf.issuer), validTo: leaf.validTo, fingerprint256: leaf.fingerprint256 },
  };
}

async function readPem(path: string, which: 'cert' | 'key'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw invalid(`cannot read tls.${which} "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function invalid(message: string): LindenError {
  return new LindenError('INVALID_OPTIONS', message);
}

/** X509Certificate writes one attribute per line. */
function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
