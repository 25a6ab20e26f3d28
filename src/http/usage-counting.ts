import type { KeyCredential } from "../api-keys/api-key-repository.js";
import type { UsageCounters } from "../auth/usage-counters.js";
import type { App } from "./app-types.js";

/**
 * Counts every answer given to a request whose key authentication admitted, once its status is
 * final: a refusal after admission (a 429 of its buckets, a 403 of scope, a 400, a 404) counts as
 * rejected. A request refused before its key was known (401, the failed-authentication throttle)
 * counts for no key.
 */
export function installUsageCounting(app: App, counters: UsageCounters): void {
  app.addHook("onResponse", (request, reply, done) => {
    const key = request.apiKey as KeyCredential | null;
    if (key !== null) counters.count(key.id, key.customer_id, reply.statusCode, Date.now());
    done();
  });
}
