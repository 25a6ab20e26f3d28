import { sql } from "kysely";
import type { SqlDialect } from "../db/dialect.js";
import type { Executor, Tx } from "../db/schema.js";
import { readJson, writeJson } from "../db/json.js";

/** A key as customers see it. The digest is never selected here. */
export type ApiKey = {
  id: string;
  customer_id: string;
  instance_id: string | null;
  name: string;
  prefix: string;
  scopes: string[];
  last_used_at: string | null;
  expires_at: string | null;
  created_at: string;
  revoked_at: string | null;
};

/** What authentication needs to know about a key, found by its digest. */
export type KeyCredential = {
  id: string;
  customer_id: string;
  instance_id: string | null;
  prefix: string;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
};

const PUBLIC_COLUMNS = [
  "id",
  "customer_id",
  "instance_id",
  "name",
  "prefix",
  "scopes",
  "last_used_at",
  "expires_at",
  "created_at",
  "revoked_at",
] as const;

type PublicRow = Omit<ApiKey, "scopes"> & { scopes: string };

function toApiKey(row: PublicRow): ApiKey {
  return { ...row, scopes: readJson<string[]>(row.scopes) };
}

export type NewApiKey = Omit<ApiKey, "customer_id" | "last_used_at" | "revoked_at"> & { digest: string };

export async function insertApiKey(tx: Tx, customerId: string, key: NewApiKey): Promise<ApiKey> {
  await tx
    .insertInto("api_keys")
    .values({ ...key, customer_id: customerId, scopes: writeJson(key.scopes), last_used_at: null, revoked_at: null })
    .execute();
  return {
    id: key.id,
    customer_id: customerId,
    instance_id: key.instance_id,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    last_used_at: null,
    expires_at: key.expires_at,
    created_at: key.created_at,
    revoked_at: null,
  };
}

/** Keys neither revoked nor expired at `now`, newest first. */
export async function listActiveApiKeys(db: Executor, customerId: string, now: string): Promise<ApiKey[]> {
  const rows = await db
    .selectFrom("api_keys")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .execute();
  return rows.map(toApiKey);
}

export async function findApiKey(db: Executor, customerId: string, id: string): Promise<ApiKey | undefined> {
  const row = await db
    .selectFrom("api_keys")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .executeTakeFirst();
  return row && toApiKey(row);
}

/** Sets `revoked_at` unless it is already set; true when this call revoked the key. */
export async function revokeApiKey(tx: Tx, customerId: string, id: string, at: string): Promise<boolean> {
  const result = await tx
    .updateTable("api_keys")
    .set({ revoked_at: at })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Revokes every unrevoked key bound to the instance and returns them, revoked. */
export async function revokeInstanceKeys(tx: Tx, customerId: string, instanceId: string, at: string): Promise<ApiKey[]> {
  const rows = await tx
    .selectFrom("api_keys")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("instance_id", "=", instanceId)
    .where("revoked_at", "is", null)
    .execute();
  if (rows.length === 0) return [];
  await tx
    .updateTable("api_keys")
    .set({ revoked_at: at })
    .where("customer_id", "=", customerId)
    .where(
      "id",
      "in",
      rows.map((row) => row.id),
    )
    .execute();
  return rows.map((row) => ({ ...toApiKey(row), revoked_at: at }));
}

/**
 * Authentication's lookup, before the customer is known: the digest is the credential. It filters
 * by the digest and never returns it.
 */
export async function findCredentialByDigest(db: Executor, digest: string): Promise<KeyCredential | undefined> {
  const row = await db
    .selectFrom("api_keys")
    .select(["id", "customer_id", "instance_id", "prefix", "scopes", "expires_at", "revoked_at"])
    .where("digest", "=", digest)
    .executeTakeFirst();
  return row && { ...row, scopes: readJson<string[]>(row.scopes) };
}

/**
 * Writes the latest use of each key in one statement. The guard keeps `last_used_at` from going
 * backwards when an older batch (from another node, or a retry) lands after a newer one. Like the
 * digest lookup it spans customers: it is keyed by key ids that authentication already resolved.
 */
export async function recordKeyUses(db: Executor, dialect: SqlDialect, uses: ReadonlyMap<string, string>): Promise<void> {
  if (uses.size === 0) return;
  const entries = [...uses];
  // PostgreSQL types a bare parameter in a CASE as text; the column is timestamptz there.
  const timestamp = (at: string) => (dialect === "postgres" ? sql`cast(${at} as timestamptz)` : sql`${at}`);
  const latest = sql<string>`case id ${sql.join(
    entries.map(([id, at]) => sql`when ${id} then ${timestamp(at)}`),
    sql` `,
  )} end`;
  await db
    .updateTable("api_keys")
    .set({ last_used_at: latest })
    .where(
      "id",
      "in",
      entries.map(([id]) => id),
    )
    .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", latest)]))
    .execute();
}
