/**
 * SQLSTATEs PostgreSQL sends as it drops a session (pg_terminate_backend, a restart, a failover)
 * or refuses a new one, and the connection-exception class 08.
 */
const SESSION_ENDED_SQLSTATES = new Set(["57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"]);

/** Socket errors from node-postgres when the server is gone or unreachable. */
const SOCKET_ERROR_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/** node-postgres reports a socket that closed under it with these messages and no code. */
const LOST_CONNECTION_MESSAGES = [
  "Connection terminated unexpectedly",
  "Connection terminated",
  "Client has encountered a connection error and is not queryable",
  "Client was closed and is not queryable",
];

/**
 * True when a statement failed because its connection to PostgreSQL was lost or could not be
 * made, not because of the statement: the database rolled back whatever transaction was open.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (SESSION_ENDED_SQLSTATES.has(code) || SOCKET_ERROR_CODES.has(code))) return true;
  return typeof message === "string" && LOST_CONNECTION_MESSAGES.includes(message);
}
