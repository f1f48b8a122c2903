import { LindenError } from '../../protocol/errors.js';
import type { AuthOptions, UserConfig } from './auth-schema.js';
import { JwtVerifier } from './jwt.js';
import { EVERYTHING, Permissions, type Action } from './permissions.js';
import { hashPassword, tokenKey, verifySecret } from './secrets.js';

/** Credentials a client sends in `hello.auth` (protocol.md §4.1). */
export type Credentials = { user: string; password: string } | { token: string } | { jwt: string };

/** Who a connection is, and what it may do. */
export interface Principal {
  /** null for an anonymous connection. */
  readonly user: string | null;
  readonly permissions: Permissions;
}

/**
 * Every failed login takes at least this long, whatever failed (unknown user, wrong password,
 * bad token): the answer's timing tells nothing, and guessing is slowed down.
 */
export const AUTH_FAILURE_DELAY_MS = 300;

interface KnownUser { config: UserConfig; permissions: Permissions }

/** Logs clients in against the `auth` option; without it everyone is anonymous and may do everything. */
export class Authenticator {
  private readonly users = new Map<string, KnownUser>();
  private readonly tokens = new Map<string, KnownUser>();
  private readonly jwt: JwtVerifier | undefined;
  private readonly anonymous: Principal | undefined;
  /** For the metrics: logins refused, and requests refused by action. */
  readonly stats = { failures: 0, denied: new Map<Action, number>() };
  /** Checked against when the user is unknown, so that case costs what a wrong password costs. */
  private readonly decoy: Promise<string>;

  constructor(readonly auth: AuthOptions | undefined) {
    if (!auth) {
      this.anonymous = { user: null, permissions: EVERYTHING };
      this.jwt = undefined;
      this.decoy = Promise.resolve('plain:-');
      return;
    }
    for (const config of auth.users ?? []) {
      const known = { config, permissions: new Permissions(config.permissions ?? {}) };
      this.users.set(config.user, known);
      if (config.token !== undefined) {
        const key = config.token.startsWith('plain:') ? tokenKey(config.token.slice('plain:'.length)) : config.token;
        this.tokens.set(key, known);
      }
    }
    try {
      this.jwt = auth.jwt && new JwtVerifier(auth.jwt);
    } catch (err) {
      throw new LindenError('INVALID_OPTIONS', `invalid broker options: auth.jwt.publicKey: ${(err as Error).message}`);
    }
    this.anonymous = auth.anonymous ? { user: null, permissions: new Permissions(auth.anonymousPermissions ?? {}) } : undefined;
    this.decoy = hashPassword('decoy');
    this.decoy.catch(() => undefined);
  }

  get enabled(): boolean {
    return this.auth !== undefined;
  }

  /** The principal for `hello.auth`; AUTH_FAILED, no sooner than AUTH_FAILURE_DELAY_MS, otherwise. */
  async authenticate(credentials: Credentials | undefined): Promise<Principal> {
    const started = Date.now();
    let principal: Principal | undefined;
    let reason = 'invalid credentials';
    try {
      principal = await this.check(credentials);
    } catch (err) {
      reason = (err as Error).message;
    }
    if (principal) return principal;
    this.stats.failures++;
    const wait = AUTH_FAILURE_DELAY_MS - (Date.now() - started);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    throw new LindenError('AUTH_FAILED', 'authentication failed', { reason: reason.slice(0, 64) });
  }

  /** Counts a request refused with PERMISSION_DENIED. */
  denied(action: Action): void {
    this.stats.denied.set(action, (this.stats.denied.get(action) ?? 0) + 1);
  }

  private async check(credentials: Credentials | undefined): Promise<Principal | undefined> {
    if (!credentials) {
      if (!this.anonymous) throw new Error('credentials required');
      return this.anonymous;
    }
    if (!this.enabled) return this.anonymous; // credentials are ignored by a broker without auth
    if ('jwt' in credentials) {
      if (!this.jwt) throw new Error('this broker takes no JWTs');
      const { user, permissions } = await this.jwt.verify(credentials.jwt);
      return { user, permissions: new Permissions(permissions) };
    }
    if ('token' in credentials) {
      const known = this.tokens.get(tokenKey(credentials.token));
      return known && { user: known.config.user, permissions: known.permissions };
    }
    const known = this.users.get(credentials.user);
    // An unknown user costs a scrypt check too: no timing tells which users exist.
    const stored = known?.config.password ?? (await this.decoy);
    const ok = await verifySecret(stored, credentials.password);
    return ok && known?.config.password !== undefined ? { user: known.config.user, permissions: known.permissions } : undefined;
  }
}
