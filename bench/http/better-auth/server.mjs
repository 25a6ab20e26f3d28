// What a TypeScript developer would run instead of our server (issue 12): Fastify answering
// GET /v1/limits for a bearer key verified by better-auth's API-key plugin, on better-auth's own
// SQLite storage, with the same logger settings as ours and the floor (bench/http/floor-server.mjs).
// Runs from the temporary folder prepareBetterAuth (setup.ts) installs better-auth into.
//   BETTER_AUTH_DB      the SQLite file setup.mjs migrated and filled
//   BETTER_AUTH_SECRET  better-auth's secret (it signs cookies; API keys are hashed without it)
//   PORT, LOG_LEVEL
import { createAuth } from "./auth.mjs";
import { loggedFastify } from "./logged-fastify.mjs";
import { BatchedLogOutput } from "./log-output.js";

const { auth } = createAuth(process.env.BETTER_AUTH_DB);

const app = loggedFastify(BatchedLogOutput);
app.get("/v1/limits", async (request, reply) => {
  const header = request.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  // The plugin answers an unknown key with valid: false rather than an error.
  const result = token === "" ? { valid: false } : await auth.api.verifyApiKey({ body: { key: token } });
  if (!result.valid) return reply.code(401).send({ error: { code: "auth_invalid", message: "unknown key" } });
  const key = result.key;
  // The plugin's own per-key counter, as it left it after counting this request. It has no
  // per-user limit: per_customer repeats the key's, so that the body has our shape and size.
  const windowEnd = new Date(new Date(key.lastRequest).getTime() + key.rateLimitTimeWindow);
  const perKey = { limit: key.rateLimitMax, remaining: key.rateLimitMax - key.requestCount, reset_at: windowEnd.toISOString() };
  reply.header("x-ratelimit-limit", String(perKey.limit));
  reply.header("x-ratelimit-remaining", String(perKey.remaining));
  reply.header("x-ratelimit-reset", String(Math.ceil(windowEnd.getTime() / 1000)));
  return { per_key: perKey, per_customer: perKey };
});
await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT) });
