// The naive floor of issue 12: the least a Fastify server must do to answer GET /v1/limits for a
// bearer key, with the same checks and the same logger settings as ours, and nothing else. It is
// what `npm run bench:http` divides our CPU per request by. Plain JavaScript on the compiled key
// format and digest (dist/), so both servers run the same checks.
//   DATABASE_PATH   the SQLite file whose keys it loads once at start
//   FLOOR_KEYS      how many of them, oldest first: only those the benchmark sends, so that the
//                   floor stays the least a server must do however many keys are stored
//   WHATISUP_KEY_PEPPER, PORT, LOG_LEVEL
import Database from "better-sqlite3";
import { KeyDigester } from "../../dist/crypto/key-digest.js";
import { isWellFormedKey } from "../../dist/crypto/key-format.js";
import { BatchedLogOutput } from "../../dist/http/log-output.js";
import { loggedFastify } from "./logged-fastify.mjs";

const digester = new KeyDigester(process.env.WHATISUP_KEY_PEPPER);
const sqlite = new Database(process.env.DATABASE_PATH, { readonly: true });
const keys = new Map(
  sqlite
    .prepare("select digest, id, customer_id from api_keys where revoked_at is null order by rowid limit ?")
    .all(Number(process.env.FLOOR_KEYS))
    .map((row) => [row.digest, row]),
);
sqlite.close();

const burst = 1e9;
const buckets = new Map();
function peek(name) {
  const now = Date.now();
  const bucket = buckets.get(name) ?? { tokens: burst, at: now };
  buckets.set(name, bucket);
  return { limit: burst, remaining: Math.floor(bucket.tokens), reset_at: new Date(now).toISOString() };
}

const app = loggedFastify(BatchedLogOutput);
app.get("/v1/limits", (request, reply) => {
  const header = request.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const key = isWellFormedKey(token) ? keys.get(digester.digest(token)) : undefined;
  if (key === undefined) return reply.code(401).send({ error: { code: "auth_invalid", message: "unknown key" } });
  const perKey = peek(key.id);
  reply.header("x-ratelimit-limit", String(perKey.limit));
  reply.header("x-ratelimit-remaining", String(perKey.remaining));
  reply.header("x-ratelimit-reset", String(Math.ceil(Date.now() / 1000)));
  return { per_key: perKey, per_customer: peek(key.customer_id) };
});
await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT) });
