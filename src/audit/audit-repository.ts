import type { Executor, Tx } from "../db/schema.js";
import { newId } from "../ids/uuid-v7.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import { nowTimestamp } from "../time/timestamps.js";

export type AuditActor = { type: "api_key"; id: string; prefix: string } | { type: "cli" };

/** Who made a change, and from where: every audit event carries it. */
export type AuditOrigin = {
  actor: AuditActor;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
};

export type AuditAction =
  | "customer.created"
  | "api_key.issued"
  | "api_key.revoked"
  | "instance.created"
  | "instance.deleted"
  | "webhook_endpoint.created"
  | "webhook_endpoint.deleted";

export type NewAuditEvent = {
  action: AuditAction;
  target: { type: string; id: string };
  metadata?: Record<string, unknown>;
};

export type AuditEvent = {
  id: string;
  customer_id: string;
  action: string;
  actor: AuditActor;
  target: { type: string; id: string };
  metadata: Record<string, unknown>;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  created_at: string;
};

/** Takes the transaction of the change it records, so that the two commit or fail together. */
export async function recordAuditEvent(
  tx: Tx,
  customerId: string,
  origin: AuditOrigin,
  event: NewAuditEvent,
): Promise<void> {
  await tx
    .insertInto("audit_events")
    .values({
      id: newId(),
      customer_id: customerId,
      action: event.action,
      actor_type: origin.actor.type,
      actor_id: origin.actor.type === "api_key" ? origin.actor.id : null,
      actor_prefix: origin.actor.type === "api_key" ? origin.actor.prefix : null,
      target_type: event.target.type,
      target_id: event.target.id,
      metadata: writeJson(event.metadata ?? {}),
      ip: origin.ip,
      user_agent: origin.userAgent,
      request_id: origin.requestId,
      created_at: nowTimestamp(),
    })
    .execute();
}

export async function listAuditEvents(
  db: Executor,
  customerId: string,
  page: PageRequest,
) {
  const query = db
    .selectFrom("audit_events")
    .selectAll()
    .where("customer_id", "=", customerId);
  const rows = await newestFirstPage(query, page).execute();
  return rows.map(
    (row): AuditEvent => ({
      id: row.id,
      customer_id: row.customer_id,
      action: row.action,
      actor:
        row.actor_type === "api_key"
          ? { type: "api_key", id: row.actor_id ?? "", prefix: row.actor_prefix ?? "" }
          : { type: "cli" },
      target: { type: row.target_type, id: row.target_id },
      metadata: readJson(row.metadata),
      ip: row.ip,
      user_agent: row.user_agent,
      request_id: row.request_id,
      created_at: row.created_at,
    }),
  );
}
