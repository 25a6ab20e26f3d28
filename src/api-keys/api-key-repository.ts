import { sql, type Selectable } from "kysely";
import type { ApiKey } from "../contract/api-key.js";
import type { SqlDialect } from "../db/dialect.js";
import { readJson, writeJson } from "../db/json.js";
import type { ApiKeysTable, Executor, Tx } from "../db/schema.js";

/** What authentication needs to know about a key, found by its digest. */
export type KeyCredential = Pick<ApiKey, "id" | "customer_id" | "instance_id" | "prefix" | "scopes" | "expires_at" | "revoked_at">;

/** Every column but the digest, which is read only by `findCredentialByDigest` (as a filter). */
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

function toApiKey(row: Omit<Selectable<ApiKeysTable>, "digest">): ApiKey {
  return { ...row, scopes: readJson<string[]>(row.scopes) };
}

export type NewApiKey = Omit<ApiKey, "customer_id" | "last_used_at" | "revoked_at"> & { digest: string };

export async function insertApiKey(tx: Tx, customerId: string, key: NewApiKey): Promise<ApiKey> {
  const stored: ApiKey = {
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
  await tx
    .insertInto("api_keys")
    .values({ ...stored, digest: key.digest, scopes: writeJson(key.scopes) })
    .execute();
  return stored;
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

/** Keys of the customer that are neither revoked nor expired at `now`. */
export async function countActiveKeys(db: Executor, customerId: string, now: string): Promise<number> {
  const row = await db
    .selectFrom("api_keys")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .where("customer_id", "=", customerId)
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
    .executeTakeFirstOrThrow();
  return Number(row.count);
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

/** Which keys a revocation names: some by id, or every key bound to an instance. */
export type KeySelection = { ids: string[] } | { instanceId: string };

/**
 * The one statement that sets `revoked_at`: of the selected keys, those not yet revoked, in one
 * UPDATE. Returns them as revoked; a key revoked already is left as it is and not returned.
 */
export async function markRevoked(tx: Tx, customerId: string, selection: KeySelection, at: string): Promise<ApiKey[]> {
  if ("ids" in selection && selection.ids.length === 0) return [];
  const rows = await tx
    .updateTable("api_keys")
    .set({ revoked_at: at })
    .where("customer_id", "=", customerId)
    .where((eb) => ("ids" in selection ? eb("id", "in", selection.ids) : eb("instance_id", "=", selection.instanceId)))
    .where("revoked_at", "is", null)
    .returning(PUBLIC_COLUMNS)
    .execute();
  return rows.map(toApiKey);
}

/** Whether a key may still act: what a write re-checks about its actor. */
export type KeyStanding = { revoked_at: string | null; expires_at: string | null; instance_deleted: boolean };

/**
 * A write's re-check of its acting key, inside the write's transaction. On PostgreSQL the key row
 * is locked FOR SHARE: a concurrent revocation's UPDATE waits for this transaction to end, and
 * this read waits for a revocation already under way and then sees it. SQLite runs one write at a
 * time, so a plain read is already ordered with every revocation.
 */
export async function lockKeyStanding(tx: Tx, dialect: SqlDialect, customerId: string, keyId: string): Promise<KeyStanding | undefined> {
  const query = tx
    .selectFrom("api_keys")
    .leftJoin("instances", "instances.id", "api_keys.instance_id")
    .select(["api_keys.revoked_at", "api_keys.expires_at", "instances.deleted_at as instance_deleted_at"])
    .where("api_keys.customer_id", "=", customerId)
    .where("api_keys.id", "=", keyId);
  const row = await (dialect === "postgres" ? query.forShare("api_keys") : query).executeTakeFirst();
  return row && { revoked_at: row.revoked_at, expires_at: row.expires_at, instance_deleted: row.instance_deleted_at !== null };
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
