import type { Selectable } from "kysely";
import type { AuditAction, AuditEvent } from "../contract/audit-event.js";
import { readJson, writeJson } from "../db/json.js";
import { newestFirstPage, type PageRequest } from "../db/pagination.js";
import { preparedInsert } from "../db/prepared-query.js";
import type { AuditEventsTable, Executor, Tx } from "../db/schema.js";
import { newId } from "../ids/uuid-v7.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Actor } from "./actor.js";

export type NewAuditEvent = {
  action: AuditAction;
  target: { type: string; id: string };
  metadata?: Record<string, unknown>;
};

/** Takes the transaction of the change it records, so that the two commit or fail together. */
export async function recordAuditEvent(tx: Tx, customerId: string, actor: Actor, event: NewAuditEvent): Promise<void> {
  const key = actor.type === "api_key" ? actor : null;
  await insertAuditRow(tx, {
    id: newId(),
    customer_id: customerId,
    action: event.action,
    actor_type: actor.type,
    actor_id: key?.key.id ?? null,
    actor_prefix: key?.key.prefix ?? null,
    target_type: event.target.type,
    target_id: event.target.id,
    metadata: writeJson(event.metadata ?? {}),
    ip: key?.ip ?? null,
    user_agent: key?.userAgent ?? null,
    request_id: key?.requestId ?? null,
    created_at: nowTimestamp(),
  });
}

const insertAuditRow = preparedInsert("audit_events");

export async function listAuditEvents(db: Executor, customerId: string, page: PageRequest): Promise<AuditEvent[]> {
  const query = db.selectFrom("audit_events").selectAll().where("customer_id", "=", customerId);
  const rows = await newestFirstPage(query, page).execute();
  return rows.map(toAuditEvent);
}

function toAuditEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    id: row.id,
    customer_id: row.customer_id,
    action: row.action,
    actor:
      row.actor_type === "api_key"
        ? { type: "api_key", id: row.actor_id ?? "", prefix: row.actor_prefix ?? "" }
        : row.actor_type === "leak_report"
          ? { type: "leak_report" }
          : { type: "cli" },
    target: { type: row.target_type, id: row.target_id },
    metadata: readJson(row.metadata),
    ip: row.ip,
    user_agent: row.user_agent,
    request_id: row.request_id,
    created_at: row.created_at,
  };
}
