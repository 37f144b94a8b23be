import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { str, type Command, type Values } from './command.js';
import { writeSelfSigned } from '../util/self-signed.js';

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
  usage: 'keys generate [--alg ES256] [--out keys/] | keys tls [--out tls/] [--host name]',
  summary: 'Make a signing key pair and a JWKS (generate), or a self-signed TLS certificate for local use (tls).',
  help: `
  keys generate:
  --alg ALG     RS256, PS256, ES256 (default), ES384, ES512 or EdDSA
  --out DIR     where to write private.pem, public.pem and jwks.json (default keys/)
  --kid KID     key id (default: the RFC 7638 thumbprint of the key)
  --force       overwrite existing files
  keys tls:
  --out DIR     where to write tls.crt and tls.key (default tls/)
  --host NAME   a name the certificate is for; repeat for more (default localhost, 127.0.0.1, ::1)
  --force       overwrite existing files`,
  options: { alg: { type: 'string' }, out: { type: 'string' }, kid: { type: 'string' }, force: { type: 'boolean' }, host: { type: 'string', multiple: true } },
  async run(values, positionals) {
    if (positionals[0] === 'tls') return tlsKeys(values);
    if (positionals[0] !== 'generate') {
      console.error('Usage: gateway keys generate [--alg ES256] [--out keys/]  |  gateway keys tls [--out tls/] [--host name]');
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

/** `gateway keys tls`: a self-signed certificate and key for local HTTPS. */
async function tlsKeys(values: Values): Promise<number> {
  const out = str(values['out']) ?? 'tls';
  const given = values['host'];
  const hosts = Array.isArray(given) && given.length > 0 ? (given as string[]) : ['localhost', '127.0.0.1', '::1'];
  for (const h of hosts) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+$|^[0-9a-fA-F:.]+$/.test(h)) {
      console.error(`gateway keys tls: --host ${JSON.stringify(h)} is not a host name or IP address`);
      return 2;
    }
  }
  const files = [join(out, 'tls.crt'), join(out, 'tls.key')];
  if (!values['force']) {
    const existing = files.filter((f) => existsSync(f));
    if (existing.length > 0) {
      console.error(`gateway keys tls: ${existing.join(', ')} already exist (use --force to overwrite)`);
      return 1;
    }
  }
  await mkdir(out, { recursive: true });
  let pair;
  try {
    pair = writeSelfSigned(out, hosts);
  } catch (err) {
    console.error(`gateway keys tls: ${(err as Error).message}`);
    return 1;
  }
  console.log(`wrote ${pair.cert} and ${pair.key} (keep it secret): self-signed for ${hosts.join(', ')}

Use it in the config:
  server:
    tls:
      certificates:
        - { cert: ${pair.cert}, key: ${pair.key} }

Clients must trust it: curl --cacert ${pair.cert} https://localhost:8000/  (or -k for a quick look)`);
  return 0;
}
