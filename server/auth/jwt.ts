import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import { permissionsFrom } from './auth-options.js';
import type { PermissionsConfig } from './permissions.js';

export interface JwtConfig {
  /** PEM (SPKI) public key of the issuer: RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA). */
  publicKey: string;
  issuer?: string;
  audience?: string;
}

/** Allowed clock difference between issuer and broker for `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 5;

/** The algorithm a key can verify; a token naming any other is refused (no `none`, no HS256 with a public key). */
function algorithmFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa': return 'RS256';
    case 'ec': return 'ES256';
    case 'ed25519': return 'EdDSA';
    default: throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}: use RSA, P-256 or Ed25519`);
  }
}

/**
 * Checks JWTs signed by one issuer: signature, `exp`, `nbf`, and `iss`/`aud` when configured.
 * The user is `sub`; what they may do is the `permissions` claim, the same object a user has in
 * the config file.
 */
export class JwtVerifier {
  private readonly key: KeyObject;
  private readonly algorithm: string;

  constructor(private readonly config: JwtConfig) {
    this.key = createPublicKey(config.publicKey);
    this.algorithm = algorithmFor(this.key);
  }

  /** Resolves with the user and permissions; rejects (with jose's reason) for any bad token. */
  async verify(token: string): Promise<{ user: string; permissions: PermissionsConfig }> {
    const { payload } = await jwtVerify(token, this.key, {
      algorithms: [this.algorithm],
      issuer: this.config.issuer,
      audience: this.config.audience,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'sub'],
    });
    return { user: payload.sub!, permissions: permissionsFrom(payload.permissions) };
  }
}
