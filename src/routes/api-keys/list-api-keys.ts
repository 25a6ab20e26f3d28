import Type from "typebox";
import { listActiveApiKeys, listActiveApiKeysPage } from "../../api-keys/api-key-repository.js";
import { ApiKeySchema } from "../../contract/api-key.js";
import { ApiKeyListQuery, DEFAULT_PAGE_SIZE } from "../../contract/page.js";
import type { App } from "../../http/app-types.js";
import { listPage } from "../../http/pagination.js";
import { AUTHENTICATED_ERRORS, errorResponses } from "../../http/schemas.js";
import { nowTimestamp } from "../../time/timestamps.js";
import type { RouteDependencies } from "../route-dependencies.js";

export function registerListApiKeys(app: App, { db }: Pick<RouteDependencies, "db">): void {
  app.get(
    "/api-keys",
    {
      config: { access: { scope: "api_keys:read", instances: "multi" } },
      schema: {
        operationId: "listApiKeys",
        summary: "List the customer's active keys (not revoked, not expired), newest first",
        description:
          "Without `limit` or `cursor`: every active key, in one bare array. With either: at most `limit` keys (default 50), still a bare array, and a `Link: <…>; rel=\"next\"` header naming the next page while there is one.",
        querystring: ApiKeyListQuery,
        response: {
          200: Type.Array(ApiKeySchema, { description: "The active keys, newest first" }),
          ...errorResponses(...AUTHENTICATED_ERRORS, "instance_scoped_key"),
        },
      },
    },
    async (request, reply) => {
      const customerId = request.apiKey.customer_id;
      const now = nowTimestamp();
      // A customer at the cap has a thousand keys, and the schema's serializer took four times
      // what JSON.stringify takes to write them (docs/performance.md, twelfth part). The keys
      // are built in the schema's exact shape, so both write the same text (test/api-keys.test.ts).
      reply.type("application/json; charset=utf-8").serializer(JSON.stringify);
      const { limit, cursor } = request.query;
      if (limit === undefined && cursor === undefined) return listActiveApiKeys(db, customerId, now);
      const page = await listPage({ limit, cursor }, (range) => listActiveApiKeysPage(db, customerId, now, range));
      if (page.next_cursor !== null) {
        const next = new URLSearchParams({ limit: String(limit ?? DEFAULT_PAGE_SIZE), cursor: page.next_cursor });
        reply.header("link", `</v1/api-keys?${next}>; rel="next"`);
      }
      return page.data;
    },
  );
}
