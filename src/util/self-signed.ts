/**
 * A self-signed certificate for local use (`gateway keys tls`, tests, the demo). node:crypto makes
 * keys but not X.509 certificates, so the certificate is made by the `openssl` command line tool.
 */
import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface SelfSigned {
  readonly cert: string;
  readonly key: string;
}

/** The subjectAltName for these names: DNS entries, IP entries for addresses. */
export function altNames(hosts: readonly string[]): string {
  return hosts.map((h) => (isIP(h) !== 0 ? `IP:${h}` : `DNS:${h}`)).join(',');
}

/**
 * Write `<out>/<name>.crt` and `<out>/<name>.key` (EC P-256, valid `days`) for `hosts` (the first is
 * the CN). `authority` makes a CA certificate. With `ca`, the certificate is signed by that CA instead of itself (for mutual TLS tests).
 */
export function writeSelfSigned(
  out: string,
  hosts: readonly string[],
  opts: { name?: string; days?: number; ca?: SelfSigned; clientAuth?: boolean; authority?: boolean } = {},
): SelfSigned {
  const name = opts.name ?? 'tls';
  const cert = join(out, `${name}.crt`);
  const key = join(out, `${name}.key`);
  const days = String(opts.days ?? 825);
  const subject = `/CN=${hosts[0] ?? 'localhost'}`;
  // A CA (authority: true) signs client certificates in tests: no extended key usage of its own.
  const ext = opts.authority
    ? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']
    : [`subjectAltName=${altNames(hosts)}`, opts.clientAuth ? 'extendedKeyUsage=clientAuth' : 'extendedKeyUsage=serverAuth'];
  try {
    if (opts.ca === undefined) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', days, '-subj', subject, ...ext.flatMap((e) => ['-addext', e])], { stdio: 'pipe' });
    } else {
      const csr = join(out, `${name}.csr`);
      const extFile = join(out, `${name}.ext`);
      execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], { stdio: 'pipe' });
      execFileSync('sh', ['-c', `printf '%s\\n' "$1" "$2" > "$3"`, 'sh', ext[0]!, ext[1]!, extFile]);
      execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', opts.ca.cert, '-CAkey', opts.ca.key, '-CAcreateserial', '-out', cert, '-days', days, '-extfile', extFile], { stdio: 'pipe' });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is needed to make a certificate (apt-get install openssl)');
    throw new Error(`openssl failed: ${e.stderr?.toString().trim() || e.message}`);
  }
  return { cert, key };
}
