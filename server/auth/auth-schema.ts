import type { JwtConfig } from './jwt.js';
import type { PermissionsConfig } from './permissions.js';

/*
 * The shape of the `auth` option as data, apart from the code that checks it (auth-options.ts):
 * the option declarations (server/option-specs.ts), and with them every `linden` command that
 * parses flags, read it without loading a schema compiler.
 */

export interface UserConfig {
  user: string;
  /** A hash from `linden passwd`, or `plain:<password>` for tests. */
  password?: string;
  /** A hash from `linden passwd --token`, or `plain:<token>` for tests. */
  token?: string;
  permissions?: PermissionsConfig;
}

/** The `auth` option of startBroker() and of the config file (README "Security"). */
export interface AuthOptions {
  /** Whether clients without credentials may connect; default false once `auth` is configured. */
  anonymous?: boolean;
  /** What anonymous clients may do when `anonymous` is true; default nothing. */
  anonymousPermissions?: PermissionsConfig;
  users?: UserConfig[];
  jwt?: JwtConfig;
}

const patterns = { type: 'array', maxItems: 1024, items: { type: 'string', minLength: 1, maxLength: 512 } };
const rule = (extra: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(['allow', 'deny', ...extra].map((k) => [k, patterns])),
});

export const PERMISSIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    publish: rule(),
    subscribe: rule(),
    queues: rule(['manage']),
    spaces: rule(['read']),
    admin: { type: 'boolean' },
  },
} as const;

export const AUTH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    anonymous: { type: 'boolean' },
    anonymousPermissions: PERMISSIONS_SCHEMA,
    users: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['user'],
        properties: {
          user: { type: 'string', minLength: 1, maxLength: 128 },
          password: { type: 'string', minLength: 1, maxLength: 1024 },
          token: { type: 'string', minLength: 1, maxLength: 1024 },
          permissions: PERMISSIONS_SCHEMA,
        },
      },
    },
    jwt: {
      type: 'object',
      additionalProperties: false,
      required: ['publicKey'],
      properties: {
        publicKey: { type: 'string', minLength: 1, maxLength: 16_384 },
        issuer: { type: 'string', minLength: 1 },
        audience: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;
