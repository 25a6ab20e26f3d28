// The better-auth instance both setup.mjs and server.mjs use: the same options create the keys and
// verify them, since the plugin stores its rate-limit settings in each key's row at creation.
// Runs from the temporary folder prepareBetterAuth (setup.ts) installs it into, never from the repo.
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import Database from "better-sqlite3";

export function createAuth(databasePath) {
  const sqlite = new Database(databasePath);
  // Our server runs SQLite in WAL mode with synchronous=NORMAL; the same here, so that neither
  // pays for an fsync the other skips (better-auth leaves the driver's defaults alone).
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  const auth = betterAuth({
    database: sqlite,
    secret: process.env.BETTER_AUTH_SECRET,
    baseURL: "http://127.0.0.1",
    telemetry: { enabled: false },
    // Only for setup.mjs to create the keys' owner the way an application would.
    emailAndPassword: { enabled: true },
    plugins: [
      apiKey({
        // The plugin's defaults otherwise (hashed keys, database storage, per-key rate limiting on),
        // but its default of 10 requests a day would refuse the benchmark's traffic after its tenth
        // request: a limit never reached keeps the counting (and its UPDATE) without refusing.
        rateLimit: { enabled: true, maxRequests: 1_000_000_000 },
      }),
    ],
  });
  return { auth, sqlite };
}
