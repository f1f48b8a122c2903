import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/*
 * How passwords and tokens are kept in the config file: never in clear, except with an explicit
 * `plain:` prefix meant for tests. Passwords are low-entropy, so they get scrypt (PHC string
 * `$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, base64); tokens are random and long, so a SHA-256
 * (`$sha256$<hex>`) is enough and lets a token be looked up without trying every user.
 */

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

const SCRYPT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
const SHA256 = /^\$sha256\$([0-9a-f]{64})$/;
const PLAIN = 'plain:';
/** 2^15 iterations: about 50 ms here, the cost OWASP suggests for scrypt. */
const DEFAULT_LN = 15;

export async function hashPassword(password: string, ln = DEFAULT_LN): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { N: 2 ** ln, r: 8, p: 1, maxmem: 256 * 2 ** ln * 8 });
  return `$scrypt$ln=${ln},r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function hashToken(token: string): string {
  return `$sha256$${sha256(token).toString('hex')}`;
}

/** A new random token (256 bits, base64url) and the hash that goes in the config. */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Why a stored secret cannot be used, or undefined when it is well-formed. */
export function secretProblem(stored: string, kind: 'password' | 'token'): string | undefined {
  if (stored.startsWith(PLAIN)) return stored.length > PLAIN.length ? undefined : 'is "plain:" with nothing after it';
  if (kind === 'password' ? SCRYPT.test(stored) : SHA256.test(stored)) return undefined;
  return kind === 'password'
    ? 'must be a hash from `linden passwd` ($scrypt$...) or plain:<password> for tests'
    : 'must be a hash from `linden passwd --token` ($sha256$...) or plain:<token> for tests';
}

/** Compares in constant time; false for a malformed stored value. */
export async function verifySecret(stored: string, given: string): Promise<boolean> {
  if (stored.startsWith(PLAIN)) return equal(sha256(stored.slice(PLAIN.length)), sha256(given));
  const sha = SHA256.exec(stored);
  if (sha) return equal(Buffer.from(sha[1]!, 'hex'), sha256(given));
  const m = SCRYPT.exec(stored);
  if (!m) return false;
  const ln = Number(m[1]);
  const expected = Buffer.from(m[5]!, 'base64');
  const key = await scrypt(given, Buffer.from(m[4]!, 'base64'), expected.length, {
    N: 2 ** ln, r: Number(m[2]), p: Number(m[3]), maxmem: 256 * 2 ** ln * Number(m[2]),
  });
  return equal(key, expected);
}

/** The token's hash as the config stores it, to find its user in one map lookup. */
export function tokenKey(token: string): string {
  return hashToken(token);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
