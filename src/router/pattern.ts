/** Path patterns: `/users/:id/orders` — literal segments and `:name` parameters that match one segment. */
export interface PathPattern {
  readonly source: string;
  /** Literal segment text, or null where a parameter stands. */
  readonly segments: readonly (string | null)[];
  readonly params: string[];
  readonly literalCount: number;
}

/** Compile a `match.path`, or return the reason it is not a valid pattern. */
export function compilePathPattern(source: string): PathPattern | string {
  if (!source.startsWith('/')) return 'must start with "/"';
  if (/[?#\\%*]/.test(source)) return 'must not contain "?", "#", "\\", "%" or "*"';
  const parts = source.split('/').slice(1);
  const segments: (string | null)[] = [];
  const params: string[] = [];
  for (const part of parts) {
    if (part === '.' || part === '..') return 'must not contain dot segments';
    if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `parameter ":${name}" must be a name (letters, digits, _)`;
      if (params.includes(name)) return `parameter ":${name}" appears twice`;
      params.push(name);
      segments.push(null);
    } else {
      if (part.includes(':')) return `segment "${part}": a parameter must take the whole segment`;
      segments.push(part);
    }
  }
  return { source, segments, params, literalCount: segments.filter((s) => s !== null).length };
}

/** Match a normalised path against a pattern; parameters come back in declaration order. */
export function matchPattern(pattern: PathPattern, path: string): string[] | null {
  const parts = path.split('/');
  const segs = pattern.segments;
  if (parts.length - 1 !== segs.length) return null;
  let values: string[] | null = null;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const part = parts[i + 1]!;
    if (seg === null) {
      if (part === '') return null;
      (values ??= []).push(part);
    } else if (seg !== part) return null;
  }
  return values ?? [];
}
