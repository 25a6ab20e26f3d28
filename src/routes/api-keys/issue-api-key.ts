import { IssueApiKeyBody, IssuedApiKeySchema } from "../../contract/api-key.js";
import { validationFailed } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { requestActor } from "../../http/request-actor.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { SECRET_NOT_REPLAYED } from "../../idempotency/idempotency-hooks.js";
import { readAllowlist } from "../../net/ip-allowlist.js";
import { toTimestamp } from "../../time/timestamps.js";
import { issueApiKey } from "../../use-cases/issue-api-key.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerIssueApiKey(app: App, { write }: Pick<RouteDependencies, "write">): void {
  app.post(
    "/api-keys",
    {
      config: {
        access: { scope: "api_keys:write", instances: "multi" },
        // A replay would have to give the key's secret again, so it would have to be stored.
        idempotency: { refused: SECRET_NOT_REPLAYED },
      },
      schema: {
        operationId: "issueApiKey",
        summary: "Issue a new key. The response holds its secret, shown this once",
        body: IssueApiKeyBody,
        response: {
          201: IssuedApiKeySchema,
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key", "scope_escalation", "instance_not_found", "key_limit_reached"),
        },
      },
    },
    async (request, reply) => {
      const { name, instance_id, scopes, expires_at, mode, allowed_ips } = request.body;
      const input = {
        name,
        instanceId: instance_id?.toLowerCase() ?? null,
        scopes,
        expiresAt: expires_at === undefined ? undefined : futureTimestamp(expires_at),
        mode,
        allowedIps: allowed_ips && canonicalAllowlist(allowed_ips),
      };
      const issued = await write(requestActor(request), (w, actor) => issueApiKey(w, actor, input));
      return reply.code(201).header("cache-control", "no-store").send(issued);
    },
  );
}

/** `allowed_ips` in its canonical form, or 400 naming every entry that is not an address or block. */
function canonicalAllowlist(entries: string[]): string[] {
  const { entries: canonical, problems } = readAllowlist(entries);
  if (problems.length > 0) {
    throw validationFailed(problems.map(({ index, message }) => ({ field: `body.allowed_ips.${index}`, message })));
  }
  return canonical;
}

/**
 * The API writes timestamps with a 4-digit year, and compares them as text. An instant after year
 * 9999 in UTC (reachable with an offset, e.g. 9999-12-31T23:59:59.999-01:00) would be written
 * with a 6-digit `+` year, which sorts before every 4-digit one: it is refused as such.
 */
const LATEST_TIMESTAMP = "9999-12-31T23:59:59.999Z";
const LATEST_MILLIS = Date.parse(LATEST_TIMESTAMP);

/** `expires_at` as the one timestamp format; null (never) stays null. */
function futureTimestamp(value: string | null): string | null {
  if (value === null) return null;
  const millis = Date.parse(value);
  // RFC 3339 allows a leap second (:60), which passes the format check but not Date.parse.
  if (Number.isNaN(millis)) {
    throw validationFailed([{ field: "body.expires_at", message: "is not a date-time this server can read" }]);
  }
  if (millis > LATEST_MILLIS) {
    throw validationFailed([{ field: "body.expires_at", message: `must be no later than ${LATEST_TIMESTAMP} in UTC` }]);
  }
  if (millis <= Date.now()) {
    throw validationFailed([{ field: "body.expires_at", message: "must be in the future" }]);
  }
  return toTimestamp(millis);
}
