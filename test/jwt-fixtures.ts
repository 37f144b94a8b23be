/** Keys and token makers for the JWT tests: tokens come from jose, the openssl CLI or hand-built bytes, never from the gateway's own library. */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, type JWTHeaderParameters } from 'jose';

export const SECRET = 'test-secret-that-is-long-enough-for-hs256!!';
export const now = () => Math.floor(Date.now() / 1000);

export function b64url(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
}

/** A token whose bytes we choose, HMAC-signed with `secret` (or unsigned with sig = ''). */
export function handmade(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | undefined = SECRET): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const sig = secret === undefined ? '' : createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

export async function jose(alg: string, key: KeyObject | Uint8Array, payload: Record<string, unknown>, header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ ...header, alg }).sign(key);
}

export const hmacKey = new TextEncoder().encode(SECRET);

export function keyPair(kind: 'rsa' | 'ec' | 'ed25519'): { publicKey: KeyObject; privateKey: KeyObject } {
  if (kind === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (kind === 'ec') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return generateKeyPairSync('ed25519');
}

export function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'gw-jwt-'));
}

export function jwks(...keys: Array<{ key: KeyObject; kid: string; alg: string }>): { keys: unknown[] } {
  return { keys: keys.map(({ key, kid, alg }) => ({ ...(key.export({ format: 'jwk' }) as object), kid, alg, use: 'sig' })) };
}

/** RS256 signed by the openssl CLI: an implementation that shares nothing with Node's JOSE libraries. */
export function opensslRs256(privatePem: string, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const dir = tmp();
  const keyFile = join(dir, 'key.pem');
  const inFile = join(dir, 'input');
  writeFileSync(keyFile, privatePem);
  const input = `${b64url(header)}.${b64url(payload)}`;
  writeFileSync(inFile, input);
  const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', keyFile, inFile]);
  return `${input}.${sig.toString('base64url')}`;
}
