// Run by prepareBetterAuth (setup.ts) with node in the temporary folder: creates better-auth's
// schema (what `npx @better-auth/cli migrate` does), one user, and BETTER_AUTH_KEY_COUNT API keys
// of that user through better-auth's own API, and writes the keys' plaintexts to
// BETTER_AUTH_KEYS_FILE, one a line.
//   BETTER_AUTH_DB, BETTER_AUTH_SECRET, BETTER_AUTH_KEYS_FILE, BETTER_AUTH_KEY_COUNT
import { writeFileSync } from "node:fs";
import { getMigrations } from "better-auth/db/migration";
import { createAuth } from "./auth.mjs";

const { auth, sqlite } = createAuth(process.env.BETTER_AUTH_DB);
const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

const { user } = await auth.api.signUpEmail({ body: { email: "bench@example.com", password: "bench-password-1234", name: "Bench" } });
const count = Number(process.env.BETTER_AUTH_KEY_COUNT);
const keys = [];
// A server-side call with a userId, as an application's admin code would make it; one at a time,
// since better-sqlite3 answers synchronously anyway.
for (let index = 0; index < count; index += 1) {
  const created = await auth.api.createApiKey({ body: { userId: user.id, name: "bench" } });
  keys.push(created.key);
}
writeFileSync(process.env.BETTER_AUTH_KEYS_FILE, `${keys.join("\n")}\n`);
sqlite.close();
