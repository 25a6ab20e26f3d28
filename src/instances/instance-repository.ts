import type { Compilable } from "kysely";
import type { Instance } from "../contract/instance.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import { preparedQuery } from "../db/prepared-query.js";
import type { Executor, Tx } from "../db/schema.js";

const PUBLIC_COLUMNS = [
  "id",
  "customer_id",
  "name",
  "transport",
  "status",
  "phone_number",
  "created_at",
  "updated_at",
] as const;

export async function insertInstance(
  tx: Tx,
  customerId: string,
  instance: Omit<Instance, "customer_id">,
  providerPhoneNumberId: string | null = null,
): Promise<Instance> {
  const stored = { ...instance, customer_id: customerId };
  await tx
    .insertInto("instances")
    .values({ ...stored, provider_phone_number_id: providerPhoneNumberId })
    .execute();
  return stored;
}

/** Deleted instances are gone for every reader: this finds only live ones. */
export async function findInstance(db: Executor, customerId: string, id: string): Promise<Instance | undefined> {
  const row = await db
    .selectFrom("instances")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return row as Instance | undefined;
}

/**
 * The live instance a write binds something to (a key, an endpoint, a message), locked FOR SHARE
 * on PostgreSQL until the transaction ends: a concurrent deletion's UPDATE waits for the bind to
 * commit (and then sees what was bound), or, when the deletion came first, this read waits for
 * it and finds no live instance. SQLite runs one write at a time.
 */
export async function lockLiveInstance(tx: Tx, customerId: string, id: string): Promise<Instance | undefined> {
  return (await liveInstanceForShare(tx, { customerId, id })).rows[0];
}

const liveInstanceForShare = preparedQuery<"customerId" | "id", Instance>((db, value, dialect) => {
  const query = db
    .selectFrom("instances")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", value("customerId"))
    .where("id", "=", value("id"))
    .where("deleted_at", "is", null);
  return (dialect === "postgres" ? query.forShare() : query) as unknown as Compilable<Instance>;
});

export async function listInstances(
  db: Executor,
  customerId: string,
  page: PageRequest,
): Promise<Instance[]> {
  const query = db
    .selectFrom("instances")
    .select(PUBLIC_COLUMNS)
    .where("customer_id", "=", customerId)
    .where("deleted_at", "is", null);
  return (await newestFirstPage(query, page).execute()) as Instance[];
}

/** Soft delete; true when this call deleted a live instance. */
export async function softDeleteInstance(tx: Tx, customerId: string, id: string, at: string): Promise<boolean> {
  const result = await tx
    .updateTable("instances")
    .set({ deleted_at: at, updated_at: at })
    .where("customer_id", "=", customerId)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Whether a live instance, of any customer, already uses this Cloud API phone number id. It spans
 * customers on purpose: one number answers to one instance, or one customer could send from (and
 * receive the callbacks of) a number another customer connected.
 */
/**
 * The live instance of a provider's phone number id, across customers: Meta's callbacks name the
 * number a message reached, and only that. At most one live instance holds a number
 * (instances_live_provider_number_idx). The caller is authenticated by the callback's signature.
 */
export async function findLiveInstanceByProviderNumber(
  db: Executor,
  providerPhoneNumberId: string,
): Promise<{ id: string; customer_id: string } | undefined> {
  return db
    .selectFrom("instances")
    .select(["id", "customer_id"])
    .where("provider_phone_number_id", "=", providerPhoneNumberId)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
}

export async function isProviderPhoneNumberInUse(db: Executor, providerPhoneNumberId: string): Promise<boolean> {
  const row = await db
    .selectFrom("instances")
    .select("id")
    .where("provider_phone_number_id", "=", providerPhoneNumberId)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return row !== undefined;
}
