import { ERRORS, RESERVED } from './errors.js';
import { PROBLEM_TYPE } from './server/respond.js';

/** docs/errors.md, generated from the one table in errors.ts (a test keeps the file in step). */
export function renderErrorReference(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every response the gateway makes itself is `application/problem+json` (RFC 9457) with `type`, `title`,',
    '`status`, `detail`, and two extension members: a stable `code` and the `requestId` (also in the',
    '`X-Request-Id` response header and in the access log). Codes are never renamed or reused.',
    `\`type\` is \`${PROBLEM_TYPE}\` (RFC 9457 §4.2.1: the status says it all, \`title\` is its phrase); match on \`code\`, which this page lists.`,
    '',
    '```json',
    `{"type":"${PROBLEM_TYPE}","title":"Not Found","status":404,`,
    ' "detail":"No route for GET /nope.","code":"GW_ERR_ROUTE_NOT_FOUND","requestId":"3c10…"}',
    '```',
    '',
    '| code | status | meaning |',
    '|---|---:|---|',
    ...Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.status} | ${e.message}${code in RESERVED ? ` Reserved: ${RESERVED[code as keyof typeof RESERVED]}` : ''} |`),
    '',
    'Configuration problems are not HTTP responses. `gateway validate` and `gateway start` print one line per',
    'problem naming the field path and exit 1; `gateway validate --json` prints',
    '`{"ok":false,"code":"GW_ERR_CONFIG_INVALID","problems":[{"path":…,"message":…}],"warnings":[]}`, and',
    '`gateway start` logs the event `config.invalid` with `"code":"GW_ERR_CONFIG_INVALID"`.',
    '',
    'A reload (`POST /reload` on the admin listener, SIGHUP, `--watch`) that fails keeps the previous',
    'configuration serving; `POST /reload` then answers `GW_ERR_CONFIG_INVALID` (422) or',
    '`GW_ERR_RELOAD_FAILED` (500) as problem+json with the same lines in `problems`.',
    '',
  ];
  return lines.join('\n');
}
