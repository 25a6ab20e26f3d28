import Type from "typebox";
import type { KeyDigester } from "../../crypto/key-digest.js";
import { rateLimitedError } from "../../errors/app-error.js";
import type { App } from "../../http/app-types.js";
import { clientAddress } from "../../http/client-address.js";
import { errorResponses } from "../../http/schemas.js";
import { throttledNetwork } from "../../rate-limit/client-network.js";
import type { RateLimiter } from "../../rate-limit/token-buckets.js";
import { MAX_REPORTED_KEYS, MAX_SOURCE_LENGTH, reportLeakedKeys } from "../../use-cases/report-leaked-keys.js";
import type { RouteDependencies } from "../route-dependencies.js";

export const LEAKED_KEYS_PATH = "/v1/leaked-keys";
/**
 * A full report is about 62 KB compact (1000 keys of 58 characters and a source), just under the
 * API's 64 KiB: a scanner's pretty-printed JSON, or a source written with \u escapes, would
 * cross it.
 */
export const LEAK_REPORT_BODY_LIMIT_BYTES = 128 * 1024;

const LeakReportBody = Type.Object(
  {
    keys: Type.Array(Type.String(), {
      minItems: 1,
      maxItems: MAX_REPORTED_KEYS,
      description: "Tokens found in the open; those that are not well-formed keys are skipped",
    }),
    source: Type.Optional(Type.String({ maxLength: MAX_SOURCE_LENGTH, description: "Where they were found: a URL or free text" })),
  },
  {
    additionalProperties: false,
    examples: [{ keys: ["zpk_live_… (a key found in the open)"], source: "https://gist.example.org/someone/1234" }],
  },
);

/**
 * Anyone who finds keys in the open (a secret-scanning service, a stranger) reports them here,
 * without a key of their own: the route is public, declared so in its config, and registered at
 * the root, outside the authenticated /v1 context. Reports are throttled per client network before
 * the body is read. The answer is the same whether or not any entry matched (docs/leaked-keys.md).
 */
export function registerLeakedKeys(
  app: App,
  { db, write, keyDigests, reports }: Pick<RouteDependencies, "db" | "write"> & { keyDigests: KeyDigester; reports: RateLimiter },
): void {
  app.post(
    LEAKED_KEYS_PATH,
    {
      config: { public: true },
      bodyLimit: LEAK_REPORT_BODY_LIMIT_BYTES,
      onRequest: async (request, reply) => {
        reply.header("cache-control", "no-store");
        const bucket = await reports.take(throttledNetwork(clientAddress(request)));
        if (!bucket.allowed) {
          throw rateLimitedError(bucket.retryAfterMs, (seconds) => `Too many leak reports from this address. Retry in ${seconds} s.`);
        }
      },
      schema: {
        operationId: "reportLeakedKeys",
        summary: "Report leaked API keys: every one that exists is revoked at once. No key needed",
        tags: ["leaked-keys"],
        body: LeakReportBody,
        response: {
          202: Type.Object(
            { received: Type.Integer({ description: "How many entries the report had, matched or not" }) },
            { additionalProperties: false, description: "Received; the same answer whether or not any key matched", examples: [{ received: 1 }] },
          ),
          ...errorResponses("validation_failed", "unsupported_media_type", "payload_too_large", "rate_limited", "internal_error", "database_unavailable"),
        },
      },
    },
    async (request, reply) => {
      const { keys, source } = request.body;
      await reportLeakedKeys({ db, write, keyDigests }, { keys, source: source ?? null });
      return reply.code(202).send({ received: keys.length });
    },
  );
}
