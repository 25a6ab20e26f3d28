// A database or cache the tests need that is not there is a failure, not a skip.
import pg from "pg";
import { Redis } from "ioredis";

const { TEST_DATABASE_URL, TEST_REDIS_URL } = process.env;
try {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query("select 1");
  await client.end();
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await redis.connect();
  if ((await redis.ping()) !== "PONG") throw new Error("Redis did not answer PONG");
  await redis.quit();
  console.log(`PostgreSQL (${TEST_DATABASE_URL}) and Redis (${TEST_REDIS_URL}) are reachable`);
} catch (error) {
  console.error(`CI needs PostgreSQL at ${TEST_DATABASE_URL} and Redis at ${TEST_REDIS_URL}: ${error.message}`);
  process.exit(1);
}
