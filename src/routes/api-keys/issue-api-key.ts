import { requestOrigin } from "../../http/request-actor.js";
import type { KeyCredential } from "../../api-keys/api-key-repository.js";
import { scopesBeyond } from "../../contract/scopes.js";
import { toTimestamp } from "../../time/timestamps.js";
import type { App } from "../../http/app-types.js";
import { AppError, validationFailed } from "../../errors/app-error.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { findInstance } from "../../instances/instance-repository.js";
import type { Services } from "../../services.js";
import { IssueApiKeyBody, IssuedApiKeySchema } from "../../contract/api-key.js";
import { issueApiKey, type KeyToIssue } from "../../use-cases/issue-api-key.js";

export function registerIssueApiKey(app: App, services: Services): void {
  app.post(
    "/api-keys",
    {
      config: { access: { scope: "api_keys:write", instances: "multi" } },
      schema: {
        summary: "Issue a new key. The response holds its secret, shown this once",
        body: IssueApiKeyBody,
        response: {
          201: IssuedApiKeySchema,
          ...errorResponses(
            ...AUTHENTICATED_ERRORS,
            "instance_scoped_key",
            "scope_escalation",
            "instance_not_found",
          ),
        },
      },
    },
    async (request, reply) => {
      const issuer = request.apiKey;
      const key = keyWithinIssuer(issuer, {
        name: request.body.name,
        instanceId: request.body.instance_id?.toLowerCase() ?? null,
        scopes: request.body.scopes ?? issuer.scopes,
        expiresAt: request.body.expires_at === undefined ? issuer.expires_at : futureTimestamp(request.body.expires_at),
      });
      const issued = await services.db.transaction().execute(async (tx) => {
        if (key.instanceId !== null && !(await findInstance(tx, issuer.customer_id, key.instanceId))) {
          throw new AppError("instance_not_found", "No such instance to bind the key to.", {
            instance_id: key.instanceId,
          });
        }
        const issuedKey = await issueApiKey(tx, issuer.customer_id, services.pepper, key, requestOrigin(request));
        const { secret: _secret, ...withoutSecret } = issuedKey;
        await services.outbox.emit(tx, issuer.customer_id, {
          event: "api_key.issued",
          instanceId: issuedKey.instance_id,
          data: { api_key: withoutSecret },
        });
        return issuedKey;
      });
      return reply.code(201).header("cache-control", "no-store").send(issued);
    },
  );
}

/** A key never holds a scope its issuer lacks, nor outlives an expiring issuer. */
function keyWithinIssuer(issuer: KeyCredential, key: KeyToIssue): KeyToIssue {
  const beyond = scopesBeyond(issuer.scopes, key.scopes);
  if (beyond.length > 0) {
    throw new AppError("scope_escalation", "A key cannot be given scopes its issuer does not hold.", {
      scopes: beyond,
      issuer_scopes: issuer.scopes,
    });
  }
  if (issuer.expires_at !== null && (key.expiresAt === null || key.expiresAt > issuer.expires_at)) {
    throw new AppError("scope_escalation", "A key cannot outlive the key that issues it.", {
      issuer_expires_at: issuer.expires_at,
    });
  }
  return key;
}

function futureTimestamp(value: string | null): string | null {
  if (value === null) return null;
  const millis = Date.parse(value);
  // RFC 3339 allows a leap second (:60), which passes the format check but not Date.parse.
  if (Number.isNaN(millis)) {
    throw validationFailed([{ field: "body.expires_at", message: "is not a date-time this server can read" }]);
  }
  const timestamp = toTimestamp(millis);
  if (timestamp <= toTimestamp(Date.now())) {
    throw validationFailed([{ field: "body.expires_at", message: "must be in the future" }]);
  }
  return timestamp;
}
