/**
 * The key table: every key is kept only as its SHA-256, mapped to a frozen principal built once, so
 * an admitted request allocates nothing for it. Keys come from the config (`key`, `keyEnv`, `sha256`)
 * and from a keys file, read when the config is compiled.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../errors.js';
import type { PolicyServices, Principal } from '../../pipeline/contract.js';
import { KeysFileSchema, type ApiKeySettings, type KeyEntry } from './schema.js';

export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Exactly one source per entry (at: `apiKey.keys[2]`). */
export function entryProblems(entry: KeyEntry, at: string): string[] {
  const n = (entry.key !== undefined ? 1 : 0) + (entry.keyEnv !== undefined ? 1 : 0) + (entry.sha256 !== undefined ? 1 : 0);
  if (n !== 1) return [`${at}: set exactly one of key, keyEnv or sha256`];
  // Checked here, after ${VAR} substitution, not in the schema: editors see "${API_KEY}" as written.
  if (entry.key !== undefined && entry.key.length < 16) return [`${at}.key: at least 16 characters (a guessable key is no key)`];
  return [];
}

async function readKeysFile(settings: ApiKeySettings, configDir: string): Promise<{ entries: KeyEntry[]; at: string }> {
  const file = resolve(configDir || '.', settings.keysFile!);
  const at = `apiKey.keysFile (${file})`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${at}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text); // YAML is a superset of JSON
  } catch (err) {
    throw new ConfigError([`${at}: not YAML or JSON (${(err as Error).message.split('\n')[0]})`]);
  }
  const withDefaults = Value.Default(KeysFileSchema, structuredClone(doc ?? {}));
  const problems = [...Value.Errors(KeysFileSchema, withDefaults)].slice(0, 10).map((e) => `${at}: ${e.path.slice(1).replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.') || '(root)'}: ${e.message}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { entries: (withDefaults as { keys: KeyEntry[] }).keys, at };
}

/** SHA-256 (hex) → principal, for every configured key. Throws ConfigError naming the entry. */
export async function buildKeyTable(settings: ApiKeySettings, services: Pick<PolicyServices, 'env' | 'configDir'>): Promise<Map<string, Principal>> {
  const sources: { entry: KeyEntry; at: string }[] = settings.keys.map((entry, i) => ({ entry, at: `apiKey.keys[${i}]` }));
  if (settings.keysFile !== undefined) {
    const { entries, at } = await readKeysFile(settings, services.configDir);
    entries.forEach((entry, i) => sources.push({ entry, at: `${at}: keys[${i}]` }));
  }
  const table = new Map<string, Principal>();
  const where = new Map<string, string>();
  const problems: string[] = [];
  for (const { entry, at } of sources) {
    const p = entryProblems(entry, at);
    if (p.length > 0) {
      problems.push(...p);
      continue;
    }
    let digest: string;
    if (entry.sha256 !== undefined) digest = entry.sha256.toLowerCase();
    else if (entry.key !== undefined) digest = sha256Hex(entry.key);
    else {
      const value = services.env[entry.keyEnv!];
      if (value === undefined || value === '') {
        problems.push(`${at}.keyEnv: environment variable ${entry.keyEnv} is not set`);
        continue;
      }
      if (value.length < 16) {
        problems.push(`${at}.keyEnv: the key in ${entry.keyEnv} is shorter than 16 characters`);
        continue;
      }
      digest = sha256Hex(value);
    }
    const prev = where.get(digest);
    if (prev !== undefined) {
      problems.push(`${at}: the same key as ${prev}`);
      continue;
    }
    where.set(digest, at);
    table.set(digest, Object.freeze({ subject: entry.consumer, issuer: 'apikey', scopes: Object.freeze([...entry.scopes]), claims: Object.freeze({}) }));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return table;
}

/**
 * Find `name=value` in a query string (with its `?`): the decoded value and the query without every
 * `name=` parameter, or undefined when the parameter is absent. A value that does not decode is ''.
 */
export function takeQueryParam(query: string, name: string): { value: string; rest: string } | undefined {
  if (query.length < 2 || !query.includes(name)) return undefined;
  let value: string | undefined;
  let rest = '';
  for (const pair of query.slice(1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key === name) {
      if (value === undefined) {
        try {
          value = decodeURIComponent(eq === -1 ? '' : pair.slice(eq + 1).replace(/\+/g, ' '));
        } catch {
          value = '';
        }
      }
      continue;
    }
    rest += rest === '' ? pair : '&' + pair;
  }
  return value === undefined ? undefined : { value, rest };
}
