import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import { AppError } from "../errors/app-error.js";
import { findInstance, softDeleteInstance } from "../instances/instance-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import { revokeApiKeys } from "./revoke-api-keys.js";
import type { Write } from "./write.js";

/**
 * `DELETE /v1/instances/:id`: a soft delete that revokes every key bound to the instance, in the
 * same transaction. A deleted instance is 404 from then on.
 */
export async function deleteInstance(write: Write, actor: KeyActor, input: { id: string }): Promise<void> {
  const customerId = actor.key.customer_id;
  const instance = await findInstance(write.tx, customerId, input.id);
  const at = nowTimestamp();
  if (!instance || !(await softDeleteInstance(write.tx, customerId, input.id, at))) {
    throw new AppError("instance_not_found", "No such instance.");
  }
  const revoked = await revokeApiKeys(write, actor, {
    customerId,
    keys: { instanceId: input.id },
    reason: "instance_deleted",
  });
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "instance.deleted",
    target: { type: "instance", id: input.id },
    metadata: { revoked_key_ids: revoked.map((key) => key.id) },
  });
  await write.outbox.emit(write.tx, customerId, {
    event: "instance.deleted",
    instanceId: input.id,
    data: { instance: { ...instance, updated_at: at } },
  });
}
