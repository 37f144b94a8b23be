import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { str, type Command } from './command.js';

const KEY_TYPES: Record<string, () => { publicKey: KeyObject; privateKey: KeyObject }> = {
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  PS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};

/** RFC 7638 JWK thumbprint: a kid derived from the key itself, so `gateway token` finds it again. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const members: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const required = members[jwk['kty']!] ?? [];
  const canonical = JSON.stringify(Object.fromEntries(required.map((k) => [k, jwk[k]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

export const keysCommand: Command = {
  name: 'keys',
  usage: 'keys generate [--alg ES256] [--out keys/]',
  summary: 'Make a signing key pair and a JWKS the gateway can read (jwksFile) or serve.',
  help: `
  --alg ALG     RS256, PS256, ES256 (default), ES384, ES512 or EdDSA
  --out DIR     where to write private.pem, public.pem and jwks.json (default keys/)
  --kid KID     key id (default: the RFC 7638 thumbprint of the key)
  --force       overwrite existing files`,
  options: { alg: { type: 'string' }, out: { type: 'string' }, kid: { type: 'string' }, force: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals[0] !== 'generate') {
      console.error('Usage: gateway keys generate [--alg ES256] [--out keys/]');
      return 2;
    }
    const alg = str(values['alg']) ?? 'ES256';
    const make = KEY_TYPES[alg];
    if (!make) {
      console.error(`gateway keys: --alg must be one of ${Object.keys(KEY_TYPES).join(', ')}`);
      return 2;
    }
    const out = str(values['out']) ?? 'keys';
    const files = { priv: join(out, 'private.pem'), pub: join(out, 'public.pem'), jwks: join(out, 'jwks.json') };
    if (!values['force']) {
      const existing = Object.values(files).filter((f) => existsSync(f));
      if (existing.length > 0) {
        console.error(`gateway keys: ${existing.join(', ')} already exist (use --force to overwrite)`);
        return 1;
      }
    }
    const { publicKey, privateKey } = make();
    const kid = str(values['kid']) ?? jwkThumbprint(publicKey);
    const jwk = { ...(publicKey.export({ format: 'jwk' }) as Record<string, string>), kid, alg, use: 'sig' };
    await mkdir(out, { recursive: true });
    await writeFile(files.priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(files.pub, publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(files.jwks, JSON.stringify({ keys: [jwk] }, null, 2) + '\n');
    console.log(`wrote ${files.priv} (keep it secret), ${files.pub} and ${files.jwks} (kid ${kid}, ${alg})

Use it in the config:
  jwt:
    issuers:
      - name: mine
        issuer: https://auth.example.com
        algorithms: [${alg}]
        jwksFile: ${files.jwks}        # or publicKeyFile: ${files.pub}

Then: gateway token --issuer mine --key ${files.priv} --sub alice`);
    return 0;
  },
};
