import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSigner, type Algorithm } from 'fast-jwt';
import { algorithmsForKey } from '../policies/jwt-auth/keys.js';
import { parseDuration } from '../util/units.js';
import { EXAMPLE_CONFIG } from './demo.js';
import { jwkThumbprint } from './keys.js';
import { loadForCli } from './load.js';
import { str, type Command } from './command.js';

function claimValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const tokenCommand: Command = {
  name: 'token',
  usage: 'token --issuer NAME [--sub S] [--scope "a b"] [--ttl 15m]',
  summary: "Mint a JWT for one of the config's issuers (its secret, or --key for a private key).",
  help: `
  --issuer NAME       a jwt.issuers[].name (default: the only issuer)
  --sub SUBJECT       the sub claim
  --scope "a b"       the scope claim (space separated)
  --aud AUD           the aud claim (default: the issuer's first audience)
  --ttl DURATION      lifetime, e.g. 30s, 15m, 1h (default 15m)
  --claim k=v         another claim; v is read as JSON when it parses, else as a string (repeatable)
  --key FILE          PEM private key for RS/PS/ES/EdDSA issuers (see "gateway keys generate")
  --kid KID           key id header (default with --key: the key's RFC 7638 thumbprint)
  --alg ALG           algorithm (default: the first the issuer allows that fits the key)
  -c, --config FILE   config (default ./gateway.yaml, else the bundled example)

Prints only the token, so it composes: curl -H "Authorization: Bearer $(gateway token ...)" ...`,
  options: {
    issuer: { type: 'string' },
    sub: { type: 'string' },
    scope: { type: 'string' },
    aud: { type: 'string' },
    ttl: { type: 'string' },
    claim: { type: 'string', multiple: true },
    key: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    config: { type: 'string', short: 'c' },
  },
  async run(values) {
    const file = str(values['config']) ?? (existsSync('gateway.yaml') ? 'gateway.yaml' : EXAMPLE_CONFIG);
    const loaded = await loadForCli(file);
    if (!loaded) return 1;
    const issuers = loaded.config.jwt?.issuers ?? [];
    const name = str(values['issuer']);
    const issuer = name !== undefined ? issuers.find((i) => i.name === name) : issuers.length === 1 ? issuers[0] : undefined;
    if (!issuer) {
      console.error(`gateway token: ${name === undefined ? 'pass --issuer' : `no issuer "${name}"`} (issuers in ${file}: ${issuers.map((i) => i.name).join(', ') || 'none'})`);
      return 2;
    }
    const ttl = parseDuration(str(values['ttl']) ?? '15m');
    if (ttl === undefined || ttl <= 0) {
      console.error('gateway token: --ttl must be a duration like 30s, 15m or 1h');
      return 2;
    }
    let key: string;
    let candidates: string[];
    let kid = str(values['kid']);
    const keyFile = str(values['key']);
    if (keyFile !== undefined) {
      let privateKey: KeyObject;
      try {
        key = await readFile(keyFile, 'utf8');
        privateKey = createPrivateKey(key);
      } catch (err) {
        console.error(`gateway token: cannot use ${keyFile} as a private key (${(err as Error).message})`);
        return 1;
      }
      const supported = algorithmsForKey(privateKey);
      candidates = typeof supported === 'string' ? [] : supported;
      kid ??= jwkThumbprint(privateKey);
    } else if (issuer.secret !== undefined) {
      key = issuer.secret;
      candidates = ['HS256', 'HS384', 'HS512'];
    } else {
      console.error(`gateway token: issuer "${issuer.name}" verifies with a public key; pass --key with the matching private key`);
      return 2;
    }
    const alg = str(values['alg']) ?? issuer.algorithms.find((a) => candidates.includes(a));
    if (alg === undefined || !issuer.algorithms.includes(alg as never) || !candidates.includes(alg)) {
      console.error(`gateway token: no algorithm fits both the key (${candidates.join(', ') || 'unusable'}) and issuer "${issuer.name}" (${issuer.algorithms.join(', ')})`);
      return 2;
    }
    const claims: Record<string, unknown> = {};
    for (const c of (values['claim'] as string[] | undefined) ?? []) {
      const at = c.indexOf('=');
      if (at <= 0) {
        console.error(`gateway token: --claim expects k=v, got ${JSON.stringify(c)}`);
        return 2;
      }
      claims[c.slice(0, at)] = claimValue(c.slice(at + 1));
    }
    const scope = str(values['scope']);
    if (scope !== undefined) claims['scope'] = scope;
    const aud = str(values['aud']) ?? issuer.audiences?.[0];
    const sign = createSigner({
      key,
      algorithm: alg as Algorithm,
      iss: issuer.issuer,
      expiresIn: ttl,
      ...(aud !== undefined ? { aud } : {}),
      ...(str(values['sub']) !== undefined ? { sub: str(values['sub']) } : {}),
      ...(kid !== undefined ? { kid } : {}),
    });
    console.log(sign(claims));
    return 0;
  },
};
