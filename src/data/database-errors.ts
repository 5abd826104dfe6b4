import {
  BackendTerminatedError,
  BackendTerminatedUnexpectedlyError,
  ConnectionError,
  IdleTransactionTimeoutError,
  StatementCancelledError,
  StatementTimeoutError,
} from 'slonik';

/** Socket errors that mean the server cannot be reached (or went away mid-conversation). */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATEs that say "not now" rather than "not this": class 08 (connection exceptions), the server
 * shutting down, crashing or still starting (57P01–57P03), too many connections (53300), and a
 * statement or lock wait cut off by its timeout (57014, 55P03), which is how a write's deadline ends.
 */
function isTransientSqlState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300' || code === '57014' || code === '55P03';
}

const UNAVAILABLE_CLASSES = [ConnectionError, BackendTerminatedError, BackendTerminatedUnexpectedlyError, StatementTimeoutError, StatementCancelledError, IdleTransactionTimeoutError];

/** pg reports a dropped connection with these messages and no code. */
const DROPPED_CONNECTION = /^(Connection terminated|Client has encountered a connection error|timeout expired|Connection pool is being terminated)/;

/**
 * Whether an error from the database library means that PostgreSQL cannot answer now (down,
 * restarting, unreachable, overloaded past a deadline) as opposed to refusing this request: the
 * API answers the first kind `unavailable` (503), and a client may retry it. Follows `cause`, since
 * slonik wraps the driver's error.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    if (UNAVAILABLE_CLASSES.some((kind) => current instanceof kind)) return true;
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && (SOCKET_ERRORS.has(code) || (/^[0-9A-Z]{5}$/.test(code) && isTransientSqlState(code)))) return true;
    // A server on a Unix socket that is not running has no socket file to connect to.
    if (code === 'ENOENT' && (current as { syscall?: unknown }).syscall === 'connect') return true;
    if (typeof message === 'string' && DROPPED_CONNECTION.test(message)) return true;
    current = cause;
  }
  return false;
}
