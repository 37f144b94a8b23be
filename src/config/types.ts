import { FormatRegistry, Type, type TSchema, type TString } from '@sinclair/typebox';
import { parseDuration, parseSize } from '../util/units.js';
import { isCidr } from '../util/ip.js';

/** Formats the schema uses; registered once (TypeBox keeps them in a process-wide registry). */
FormatRegistry.Set('duration', (v) => parseDuration(v) !== undefined);
FormatRegistry.Set('size', (v) => parseSize(v) !== undefined);
FormatRegistry.Set('cidr', (v) => isCidr(v));
FormatRegistry.Set('http-url', (v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
});

/** Human words for a format, used in validation messages. */
export const FORMAT_HINTS: Record<string, string> = {
  duration: 'a duration like 250ms, 5s, 1m or 1h',
  size: 'a size like 512kb, 10mb or 1gb',
  cidr: 'an IP address or CIDR like 10.0.0.0/8 or ::1',
  'http-url': 'an http:// or https:// URL',
};

export const Duration = (description: string, def?: string): TString =>
  Type.String({ format: 'duration', description, ...(def !== undefined ? { default: def } : {}) });

export const Size = (description: string, def?: string): TString =>
  Type.String({ format: 'size', description, ...(def !== undefined ? { default: def } : {}) });

/** An object schema that rejects unknown fields: a misspelt key must never silently switch a protection off. */
export const Strict = <T extends Record<string, TSchema>>(props: T, options: { description?: string; default?: unknown; title?: string } = {}) =>
  Type.Object(props, { additionalProperties: false, ...options });
