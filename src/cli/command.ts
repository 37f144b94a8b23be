import type { ParseArgsConfig } from 'node:util';

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly help?: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Resolves with the exit code, or -1 for a server that keeps running. */
  run(values: Values, positionals: string[]): Promise<number>;
}

export function str(v: Values[string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
