import { findApiKey, markRevoked, type KeySelection } from "../api-keys/api-key-repository.js";
import type { Actor, KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { ApiKey } from "../contract/api-key.js";
import { ALL_SCOPES } from "../contract/scopes.js";
import { AppError } from "../errors/app-error.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Write } from "./write.js";

/** Why keys were revoked when it was not asked for by name: their instance was deleted, or someone reported them leaked. */
export type RevocationReason = "instance_deleted" | "leaked";

/**
 * Every revocation goes through here, one key or many: the keys stop working (`revoked_at`), each
 * revocation is audited (`api_key.revoked`) and announced as a webhook event, and every node is
 * told when the transaction commits (the revocation notice). The write returns only once no node
 * honours the keys any more (docs/revocation.md). Keys revoked already are left as they are.
 * Returns the keys this write revoked.
 */
export async function revokeApiKeys(
  write: Write,
  actor: Actor,
  /** `source`, for a leak: where the keys were found, as the reporter said it (null: not said). */
  input: { customerId: string; keys: KeySelection; reason?: RevocationReason; source?: string | null },
): Promise<ApiKey[]> {
  const revoked = await markRevoked(write.tx, input.customerId, input.keys, nowTimestamp());
  if (revoked.length === 0) return revoked;
  const because = reasonFields(input);
  for (const key of revoked) {
    const where = input.reason === "instance_deleted" ? { instance_id: key.instance_id } : {};
    await recordAuditEvent(write.tx, input.customerId, actor, {
      action: "api_key.revoked",
      target: { type: "api_key", id: key.id },
      metadata: { name: key.name, prefix: key.prefix, ...because, ...where },
    });
    await write.outbox.emit(write.tx, input.customerId, {
      event: "api_key.revoked",
      instanceId: key.instance_id,
      data: { api_key: key, ...because },
    });
  }
  if (write.revocations === null) throw new Error("this process has no revocation channel: it cannot revoke keys");
  write.afterCommit(await write.revocations.announce(write.tx, revoked.map((key) => key.id)));
  return revoked;
}

/** What the audit event and the webhook event say of why: a leak also says where it was found. */
function reasonFields(input: { reason?: RevocationReason; source?: string | null }): Record<string, unknown> {
  if (input.reason === undefined) return {};
  if (input.reason === "leaked") return { reason: input.reason, source: input.source ?? null };
  return { reason: input.reason };
}

/**
 * `DELETE /v1/api-keys/:id`: another customer's key, or an unknown id, is 404 api_key_not_found;
 * revoking a revoked key changes nothing. Only a key holding `*` may revoke a key holding `*`: a
 * narrower key (say, one that only rotates keys) could otherwise revoke the customer's full keys,
 * and with the last one gone lock the customer out.
 */
export async function revokeApiKey(write: Write, actor: KeyActor, input: { id: string }): Promise<void> {
  const customerId = actor.key.customer_id;
  const target = await findApiKey(write.tx, customerId, input.id);
  if (!target) throw new AppError("api_key_not_found", "No such API key.");
  if (target.scopes.includes(ALL_SCOPES) && !actor.key.scopes.includes(ALL_SCOPES)) {
    throw new AppError("insufficient_scope", `Only a key holding ${ALL_SCOPES} can revoke a key that holds ${ALL_SCOPES}.`, {
      required: ALL_SCOPES,
    });
  }
  await revokeApiKeys(write, actor, { customerId, keys: { ids: [input.id] } });
}
