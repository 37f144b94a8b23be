/**
 * `request.token` in a route test: a JWT minted for one of the config's issuers when the case runs
 * (as `gateway token` does), so tests of authenticated routes need no token pasted into the file.
 */
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { createSigner, type Algorithm } from 'fast-jwt';
import type { Config } from '../config/schema.js';
import { Strict } from '../config/types.js';
import { algorithmsForKey } from '../policies/jwt-auth/keys.js';

export const TokenSpecSchema = Strict(
  {
    issuer: Type.Optional(Type.String({ description: 'A jwt.issuers[].name (default: the only issuer).' })),
    sub: Type.Optional(Type.String({ description: 'The sub claim.' })),
    scope: Type.Optional(Type.String({ description: 'The scope claim (space separated).' })),
    aud: Type.Optional(Type.String({ description: "The aud claim (default: the issuer's first audience)." })),
    claims: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Further claims.' })),
    expiresIn: Type.Integer({ default: 300, description: 'Seconds until exp; negative for an expired token.' }),
    key: Type.Optional(Type.String({ description: 'PEM private key file for RS/PS/ES/EdDSA issuers, relative to the test file.' })),
  },
  { description: 'Send Authorization: Bearer with a token minted for this case.' },
);

export type TokenSpec = Static<typeof TokenSpecSchema>;

/** A signed token, or the reason none can be made for this config. */
export async function mintToken(config: Config, spec: TokenSpec, baseDir: string): Promise<string | { problem: string }> {
  const issuers = config.jwt?.issuers ?? [];
  const issuer = spec.issuer !== undefined ? issuers.find((i) => i.name === spec.issuer) : issuers.length === 1 ? issuers[0] : undefined;
  if (issuer === undefined) {
    return { problem: `${spec.issuer === undefined ? 'name the issuer' : `no issuer "${spec.issuer}"`} (issuers: ${issuers.map((i) => i.name).join(', ') || 'none'})` };
  }
  let key: string;
  let fits: readonly string[];
  if (spec.key !== undefined) {
    try {
      key = await readFile(resolve(baseDir, spec.key), 'utf8');
      const supported = algorithmsForKey(createPrivateKey(key));
      fits = typeof supported === 'string' ? [] : supported;
    } catch (err) {
      return { problem: `cannot use ${spec.key} as a private key (${(err as Error).message})` };
    }
  } else if (issuer.secret !== undefined) {
    key = issuer.secret;
    fits = ['HS256', 'HS384', 'HS512'];
  } else return { problem: `issuer "${issuer.name}" verifies with a public key: give token.key, the matching private key file` };
  const alg = issuer.algorithms.find((a) => fits.includes(a));
  if (alg === undefined) return { problem: `no algorithm of issuer "${issuer.name}" (${issuer.algorithms.join(', ')}) fits the key` };
  const aud = spec.aud ?? issuer.audiences?.[0];
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { ...spec.claims, iss: issuer.issuer, iat: now, exp: now + spec.expiresIn };
  if (spec.sub !== undefined) claims['sub'] = spec.sub;
  if (spec.scope !== undefined) claims['scope'] = spec.scope;
  if (aud !== undefined) claims['aud'] = aud;
  return createSigner({ key, algorithm: alg as Algorithm, noTimestamp: true })(claims);
}
