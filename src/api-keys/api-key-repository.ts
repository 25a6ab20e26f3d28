import { setImmediate } from "node:timers/promises";
import type { ExpressionBuilder, Selectable } from "kysely";
import type { ApiKey } from "../contract/api-key.js";
import type { SqlDialect } from "../db/dialect.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type Cursor, type PageRequest } from "../db/pagination.js";
import { preparedInsert, preparedQuery, valuesStatement } from "../db/prepared-query.js";
import type { ApiKeysTable, Database, Db, Executor, Tx } from "../db/schema.js";
import { Interner } from "../collections/interner.js";
import { addToUnrevokedKeys } from "../customers/customer-repository.js";
import { keyMode } from "../crypto/key-format.js";

/** What authentication needs to know about a key, found by its digest. */
export type KeyCredential = Pick<ApiKey, "id" | "customer_id" | "instance_id" | "prefix" | "mode" | "expires_at" | "revoked_at"> & {
  scopes: readonly string[];
  allowed_ips: readonly string[] | null;
};

/** Every column but the digest, which is read only by `findCredentialByDigest` (as a filter). */
const PUBLIC_COLUMNS = ["id", "customer_id", "instance_id", "name", "prefix", "scopes", "expires_at", "created_at", "revoked_at", "allowed_ips"] as const;

/**
 * What every read of a key selects: its columns, and its latest use from the table the
 * write-behind writes (src/db/migrations/20261207160000_key_uses_apart.ts), found by the key id.
 */
function publicColumns(eb: ExpressionBuilder<Database, "api_keys">) {
  const lastUsedAt = eb
    .selectFrom("api_key_last_used")
    .select("api_key_last_used.last_used_at")
    .whereRef("api_key_last_used.key_id", "=", "api_keys.id")
    .as("last_used_at");
  return [...PUBLIC_COLUMNS, lastUsedAt] as const;
}

type PublicRow = Pick<Selectable<ApiKeysTable>, (typeof PUBLIC_COLUMNS)[number]> & { last_used_at: string | null };

/**
 * The mode is not stored: a key's prefix says it. Built field by field in the order of
 * `ApiKeySchema`, and with nothing else, so that `JSON.stringify` writes a key exactly as the
 * schema's serializer would (the list of keys relies on it: see list-api-keys.ts).
 */
function toApiKey(row: PublicRow): ApiKey {
  return {
    id: row.id,
    customer_id: row.customer_id,
    instance_id: row.instance_id,
    name: row.name,
    prefix: row.prefix,
    mode: keyMode(row.prefix),
    scopes: readJson<string[]>(row.scopes),
    allowed_ips: row.allowed_ips === null ? null : readJson<string[]>(row.allowed_ips),
    last_used_at: row.last_used_at,
    expires_at: row.expires_at,
    created_at: row.created_at,
    revoked_at: row.revoked_at,
  };
}

/** A new key as stored: what the API shows of it, and its digest. */
export type NewApiKey = Omit<ApiKey, "customer_id"> & { digest: string };

const insertKeyRow = preparedInsert("api_keys");

/**
 * Stores a new key of the customer and counts it among its unrevoked keys; answers that count,
 * this key included. Counting holds the customer row until the transaction ends (PostgreSQL), so
 * a write stores its key last: every other issue of the customer waits for as short a time as it can.
 */
export async function insertApiKey(tx: Tx, customerId: string, key: NewApiKey): Promise<number> {
  const { mode: _inPrefix, last_used_at: _keptApart, ...row } = key;
  await insertKeyRow(tx, {
    ...row,
    customer_id: customerId,
    scopes: writeJson(key.scopes),
    allowed_ips: key.allowed_ips === null ? null : writeJson(key.allowed_ips),
    expiring_notice_at: null,
    expired_notice_at: null,
    rolled_at: null,
  });
  return addToUnrevokedKeys(tx, customerId, 1);
}

/** The customer's keys that are neither revoked nor expired at `now`. */
function activeKeys(db: Executor, customerId: string, now: string) {
  return db
    .selectFrom("api_keys")
    .where("customer_id", "=", customerId)
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]));
}

/**
 * How many keys the whole list reads at once. A customer at the cap has a thousand: read in one
 * statement on SQLite, with the rest of the request, they held the event loop for a median of 6
 * to 12 ms; read this many at a time, 3 to 4.5 ms (docs/performance.md, twelfth part).
 */
const WHOLE_LIST_PAGE = 250;

/**
 * Every active key, newest first, read a page at a time with a turn of the event loop between
 * pages, so that other requests are answered meanwhile. Each page is its own read: a key revoked
 * or issued while the list is read is listed as it stood before or after, but no key is listed
 * twice or out of order, since the pages follow `created_at, id`, which never change.
 */
export async function listActiveApiKeys(db: Executor, customerId: string, now: string): Promise<ApiKey[]> {
  const keys: ApiKey[] = [];
  for (let after: Cursor | null = null; ; after = keys[keys.length - 1]!) {
    const page = await listActiveApiKeysPage(db, customerId, now, { limit: WHOLE_LIST_PAGE, after });
    for (const key of page.slice(0, WHOLE_LIST_PAGE)) keys.push(key);
    if (page.length <= WHOLE_LIST_PAGE) return keys;
    await setImmediate();
  }
}

/** One page of the active keys, newest first, with one row more than the page (see listPage). */
export async function listActiveApiKeysPage(db: Executor, customerId: string, now: string, page: PageRequest): Promise<ApiKey[]> {
  const rows = await newestFirstPage(activeKeys(db, customerId, now).select(publicColumns), page).execute();
  return rows.map(toApiKey);
}

/**
 * Keys of the customer that are neither revoked nor expired at `now`, counted up to `upTo` only:
 * the cap check needs no more. Only a customer whose unrevoked keys reach the cap pays for it.
 */
export async function countActiveKeys(db: Executor, customerId: string, now: string, upTo: number): Promise<number> {
  const row = await db
    .selectFrom(activeKeys(db, customerId, now).select("id").limit(upTo).as("active"))
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function findApiKey(db: Executor, customerId: string, id: string): Promise<ApiKey | undefined> {
  const row = await db
    .selectFrom("api_keys")
    .select(publicColumns)
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
    .returning(publicColumns)
    .execute();
  if (rows.length > 0) await addToUnrevokedKeys(tx, customerId, -rows.length);
  return rows.map(toApiKey);
}

/** A key as a roll reads it: with when it was rolled already, if it was. */
export type RollableKey = ApiKey & { rolled_at: string | null };

/**
 * A key a roll is about to replace, locked FOR UPDATE on PostgreSQL until the transaction ends:
 * two rolls of one key run one after the other, and the second reads what the first committed.
 * SQLite runs one write at a time.
 */
export async function lockKeyToRoll(tx: Tx, customerId: string, id: string): Promise<RollableKey | undefined> {
  const row = (await keyForUpdate(tx, { customerId, id })).rows[0];
  if (row === undefined) return undefined;
  const { rolled_at, ...key } = row;
  return { ...toApiKey(key), rolled_at };
}

const keyForUpdate = preparedQuery<"customerId" | "id", PublicRow & { rolled_at: string | null }>((db, value, dialect) => {
  const query = db
    .selectFrom("api_keys")
    .select((eb) => [...publicColumns(eb), "rolled_at"])
    .where("customer_id", "=", value("customerId"))
    .where("id", "=", value("id"));
  return dialect === "postgres" ? query.forUpdate() : query;
});

/** Records that a key was replaced at `at`, and the expiry it keeps until then. */
export async function markRolled(tx: Tx, customerId: string, id: string, at: string, expiresAt: string | null): Promise<void> {
  await tx
    .updateTable("api_keys")
    .set({ rolled_at: at, expires_at: expiresAt })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .execute();
}

/** Whether a key may still act: what a write re-checks about its actor. */
export type KeyStanding = { revoked_at: string | null; expires_at: string | null; instance_deleted: boolean };

/**
 * A write's re-check of its acting key, inside the write's transaction. On PostgreSQL the key row
 * is locked FOR SHARE: a concurrent revocation's UPDATE waits for this transaction to end, and
 * this read waits for a revocation already under way and then sees it. SQLite runs one write at a
 * time, so a plain read is already ordered with every revocation.
 */
export async function lockKeyStanding(tx: Tx, customerId: string, keyId: string): Promise<KeyStanding | undefined> {
  const { rows } = await keyStanding(tx, { customerId, keyId });
  const row = rows[0];
  return row && { revoked_at: row.revoked_at, expires_at: row.expires_at, instance_deleted: row.instance_deleted_at !== null };
}

const keyStanding = preparedQuery<"customerId" | "keyId", { revoked_at: string | null; expires_at: string | null; instance_deleted_at: string | null }>(
  (db, value, dialect) => {
    const query = db
      .selectFrom("api_keys")
      .leftJoin("instances", "instances.id", "api_keys.instance_id")
      .select(["api_keys.revoked_at", "api_keys.expires_at", "instances.deleted_at as instance_deleted_at"])
      .where("api_keys.customer_id", "=", value("customerId"))
      .where("api_keys.id", "=", value("keyId"));
    return dialect === "postgres" ? query.forShare("api_keys") : query;
  },
);

/**
 * Authentication's lookup, before the customer is known: the digest is the credential. It filters
 * by the digest and never returns it. It runs for every key a node has not cached yet, where
 * building and compiling the query cost more than SQLite takes to answer it: it is prepared.
 */
export async function findCredentialByDigest(db: Db, digest: string): Promise<KeyCredential | undefined> {
  const { rows } = await credentialByDigest(db, { digest });
  const row = rows[0];
  if (row === undefined) return undefined;
  const scopesText = listText(row.scopes);
  return {
    id: row.id,
    customer_id: sharedCustomerIds.intern(row.customer_id, () => row.customer_id),
    instance_id: row.instance_id,
    prefix: row.prefix,
    mode: keyMode(row.prefix),
    scopes: sharedScopes.intern(scopesText, () => Object.freeze(readJson<string[]>(row.scopes))),
    allowed_ips: row.allowed_ips === null ? null : sharedLists.intern(listText(row.allowed_ips), () => Object.freeze(readJson<string[]>(row.allowed_ips!))),
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
  };
}

/** On PostgreSQL a JSON column comes parsed (jsonb), on SQLite as its text. */
function listText(value: string | string[]): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Credentials are what the key cache holds, a hundred thousand of them on a busy node. Built in
 * one shape, with the customer id and the scope list shared by every key that has the same, each
 * takes about 140 bytes less (docs/performance.md, "Memory"). The scope lists are frozen: shared,
 * none may be changed in place.
 */
const sharedCustomerIds = new Interner<string>(100_000);
const sharedScopes = new Interner<readonly string[]>(10_000);
const sharedLists = new Interner<readonly string[]>(10_000);

/** On PostgreSQL the lists come parsed (jsonb). */
type CredentialRow = Omit<KeyCredential, "scopes" | "allowed_ips" | "mode"> & { scopes: string | string[]; allowed_ips: string | string[] | null };

const credentialByDigest = preparedQuery<"digest", CredentialRow>((db, value) =>
  db
    .selectFrom("api_keys")
    .select(["id", "customer_id", "instance_id", "prefix", "scopes", "allowed_ips", "expires_at", "revoked_at"])
    .where("digest", "=", value("digest")),
);

/** A key found by a leak report: enough to revoke it, and never its digest. */
export type ReportedKey = { id: string; customer_id: string };

/**
 * The unrevoked keys among these digests, in one indexed read (the digest's unique index). Like
 * authentication's lookup it spans customers: whoever holds a key's text may report it.
 */
export async function findUnrevokedKeysByDigests(db: Executor, digests: readonly string[]): Promise<ReportedKey[]> {
  if (digests.length === 0) return [];
  return db
    .selectFrom("api_keys")
    .select(["id", "customer_id"])
    .where("digest", "in", digests)
    .where("revoked_at", "is", null)
    .execute();
}

/**
 * Writes the latest use of each key in one statement, a narrow row per key in its own table
 * (src/db/migrations/20261207160000_key_uses_apart.ts). The guard keeps `last_used_at` from going
 * backwards when an older batch (from another node, or a retry) lands after a newer one. A key id
 * not (or no longer) stored is skipped: a batch that its reference would refuse would be retried
 * at every flush. Like the digest lookup it spans customers: it is keyed by key ids that
 * authentication already resolved. Rows are written in the order given: the flush gives them in
 * key order, the order in which two nodes writing the same keys lock them.
 */
export async function recordKeyUses(db: Executor, uses: ReadonlyMap<string, string>): Promise<void> {
  if (uses.size === 0) return;
  const parameters: string[] = [];
  for (const [keyId, at] of uses) parameters.push(keyId, at);
  await recordKeyUsesStatement(db, parameters);
}

const recordKeyUsesStatement = valuesStatement(2, (values, dialect) => {
  const stored =
    dialect === "postgres"
      ? `select v.id::uuid, v.at::timestamptz from (values ${values}) as v(id, at)
          where exists (select from api_keys where api_keys.id = v.id::uuid)`
      : `select column1, column2 from (values ${values}) as v
          where exists (select 1 from api_keys where api_keys.id = v.column1)`;
  return `insert into api_key_last_used (key_id, last_used_at) ${stored}
    on conflict (key_id) do update set last_used_at = excluded.last_used_at
    where api_key_last_used.last_used_at < excluded.last_used_at`;
});

/*
 * The expiry notifier's claims (src/workers/key-expiry-notifier.ts). Like `recordKeyUses` they span
 * customers: the worker serves them all. Each claims up to `limit` keys in ONE statement by setting
 * its notice's column where it is still null, and returns them: on SQLite the UPDATE takes the write
 * lock before it reads; on PostgreSQL the selection locks the keys it picks and skips those another
 * node is claiming, or a write holds (a revocation, a write re-checking its key), and the outer
 * conditions are checked again on the locked row, so that two nodes never claim the same notice
 * and the worker never waits for a request. The lock is FOR NO KEY UPDATE,
 * what the UPDATE takes anyway: rows inserted with a reference to the key do not wait for it. The
 * selection is a MATERIALIZED CTE for the reason `claimStatement` gives (delivery-queue.ts). A
 * revoked key is never claimed.
 */

/**
 * Claims the `api_key.expired` notice of keys whose `expires_at` has passed at `now`, oldest
 * expiry first (api_keys_expired_notice_idx). It marks their `expiring` notice too, so that one is
 * never emitted after this one.
 */
export async function claimExpiredNotices(tx: Tx, dialect: SqlDialect, now: string, limit: number): Promise<ApiKey[]> {
  const rows = await tx
    .with(
      (cte) => cte("due").materialized(),
      (query) => {
        const due = query
          .selectFrom("api_keys")
          .select("id")
          .where("expires_at", "<=", now)
          .where("expired_notice_at", "is", null)
          .where("revoked_at", "is", null)
          .orderBy("expires_at")
          .orderBy("id")
          .limit(limit);
        return dialect === "postgres" ? due.forNoKeyUpdate().skipLocked() : due;
      },
    )
    .updateTable("api_keys")
    .set((eb) => ({ expired_notice_at: now, expiring_notice_at: eb.fn.coalesce("expiring_notice_at", eb.val(now)) }))
    .where("id", "in", (eb) => eb.selectFrom("due").select("due.id"))
    .where("expires_at", "<=", now)
    .where("expired_notice_at", "is", null)
    .where("revoked_at", "is", null)
    .returning(publicColumns)
    .execute();
  return rows.map(toApiKey);
}

/**
 * Claims the `api_key.expiring` notice of keys that expire after `now` and by `horizon`, soonest
 * first (api_keys_expiring_notice_idx). A key that has expired already is left to
 * `claimExpiredNotices`.
 */
export async function claimExpiringNotices(tx: Tx, dialect: SqlDialect, now: string, horizon: string, limit: number): Promise<ApiKey[]> {
  const rows = await tx
    .with(
      (cte) => cte("due").materialized(),
      (query) => {
        const due = query
          .selectFrom("api_keys")
          .select("id")
          .where("expires_at", ">", now)
          .where("expires_at", "<=", horizon)
          .where("expiring_notice_at", "is", null)
          .where("revoked_at", "is", null)
          .orderBy("expires_at")
          .orderBy("id")
          .limit(limit);
        return dialect === "postgres" ? due.forNoKeyUpdate().skipLocked() : due;
      },
    )
    .updateTable("api_keys")
    .set({ expiring_notice_at: now })
    .where("id", "in", (eb) => eb.selectFrom("due").select("due.id"))
    .where("expires_at", ">", now)
    .where("expires_at", "<=", horizon)
    .where("expiring_notice_at", "is", null)
    .where("revoked_at", "is", null)
    .returning(publicColumns)
    .execute();
  return rows.map(toApiKey);
}
