/** The one table from an upstream failure to the gateway's answer: 502, 503 or 504. */
import { errors } from 'undici';
import type { ErrorCode } from '../errors.js';

export type UpstreamErrorKind = 'timeout' | 'refused' | 'reset' | 'protocol' | 'other';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const PROTOCOL_CODES = new Set(['HPE_INVALID_CONSTANT', 'UND_ERR_RESPONSE_STATUS_CODE', 'UND_ERR_INFO', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);

export function classifyUpstreamError(err: unknown): UpstreamErrorKind {
  // undici's HTTPParserError (a response that is not HTTP/1.1) often carries no code at all: without
  // this it read as 'other' and was logged and answered as "refused or reset".
  if (err instanceof errors.HTTPParserError) return 'protocol';
  const code = (err as { code?: string } | null)?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (REFUSED_CODES.has(code)) return 'refused';
  if (RESET_CODES.has(code)) return 'reset';
  if (PROTOCOL_CODES.has(code) || code.startsWith('HPE_')) return 'protocol';
  return 'other';
}

export function upstreamErrorCode(kind: UpstreamErrorKind): ErrorCode {
  switch (kind) {
    case 'timeout':
      return 'GW_ERR_UPSTREAM_TIMEOUT';
    case 'protocol':
      return 'GW_ERR_UPSTREAM_BAD_RESPONSE';
    default:
      return 'GW_ERR_UPSTREAM_UNAVAILABLE';
  }
}
