import { lockKeyToRoll, markRolled } from "../api-keys/api-key-repository.js";
import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { IssuedApiKey } from "../contract/api-key.js";
import { scopesBeyond } from "../contract/scopes.js";
import { AppError } from "../errors/app-error.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { entriesOutside } from "../net/ip-allowlist.js";
import { toTimestamp } from "../time/timestamps.js";
import { storeNewKey } from "./issue-api-key.js";
import { revokeApiKeys } from "./revoke-api-keys.js";
import type { Write } from "./write.js";

export type RollApiKeyInput = {
  id: string;
  /** How long the old key keeps working beside the new one; 0 revokes it at once. */
  expiresInSeconds: number;
};

/**
 * `POST /v1/api-keys/:id/roll`: a new key with everything of the old one but its secret, and the
 * old one ends, at once (revoked) or after the overlap (its expiry brought forward). The caller
 * must be able to issue the new key itself: rolling never yields a key with a scope, a mode, a
 * lifetime or addresses beyond the caller's (403 scope_escalation), and a key bound to an instance rolls only
 * keys of that instance (403 instance_access_denied), itself included. A key is rolled once: a
 * revoked, expired or already rolled key is 409 api_key_not_active.
 */
export async function rollApiKey(write: Write, actor: KeyActor, input: RollApiKeyInput): Promise<IssuedApiKey> {
  const caller = actor.key;
  const customerId = caller.customer_id;
  // Locked until commit: a second roll of the key waits here, then finds it rolled.
  const old = await lockKeyToRoll(write.tx, customerId, input.id);
  if (!old) throw new AppError("api_key_not_found", "No such API key.");
  if (caller.instance_id !== null && old.instance_id !== caller.instance_id) {
    throw new AppError("instance_access_denied", "A key bound to an instance can roll only keys bound to that instance.", {
      instance_id: caller.instance_id,
    });
  }
  const beyond = scopesBeyond(caller.scopes, old.scopes);
  if (beyond.length > 0) {
    throw new AppError("scope_escalation", "A key cannot roll a key holding scopes it does not hold.", {
      scopes: beyond,
      issuer_scopes: caller.scopes,
    });
  }
  if (caller.mode === "test" && old.mode === "live") {
    throw new AppError("scope_escalation", "A test key cannot roll a live key.", { issuer_mode: caller.mode });
  }
  if (caller.allowed_ips !== null) {
    const outside = old.allowed_ips === null ? null : entriesOutside(caller.allowed_ips, old.allowed_ips);
    if (outside === null || outside.length > 0) {
      throw new AppError("scope_escalation", "A key cannot roll a key usable from addresses it cannot be used from.", {
        ...(outside && { allowed_ips: outside }),
        issuer_allowed_ips: caller.allowed_ips,
      });
    }
  }
  // The new key keeps the old key's expiry, which an expiring caller could not give a key it issues.
  if (caller.expires_at !== null && (old.expires_at === null || old.expires_at > caller.expires_at)) {
    throw new AppError("scope_escalation", "A key cannot roll a key that outlives it.", {
      issuer_expires_at: caller.expires_at,
    });
  }
  const now = Date.now();
  // As when issuing a bound key: the instance is held until commit, so that its deletion, which
  // revokes its keys, waits and then revokes the new key too. A deletion that came first revoked
  // the old key.
  const instanceGone = old.instance_id !== null && !(await lockLiveInstance(write.tx, customerId, old.instance_id));
  if (instanceGone || old.revoked_at !== null || (old.expires_at !== null && old.expires_at <= toTimestamp(now))) {
    throw new AppError("api_key_not_active", "This API key is revoked or expired: there is nothing to roll.");
  }
  if (old.rolled_at !== null) {
    throw new AppError("api_key_not_active", "This API key has been rolled already: roll the key that replaced it.");
  }

  // The old key ends before the new one is stored, so that a customer at MAX_ACTIVE_KEYS can
  // still roll without an overlap.
  if (input.expiresInSeconds === 0) {
    await revokeApiKeys(write, actor, { customerId, keys: { ids: [old.id] } });
    await markRolled(write.tx, customerId, old.id, toTimestamp(now), old.expires_at);
  } else {
    const overlapEnd = toTimestamp(now + input.expiresInSeconds * 1000);
    const expiresAt = old.expires_at !== null && old.expires_at < overlapEnd ? old.expires_at : overlapEnd;
    await markRolled(write.tx, customerId, old.id, toTimestamp(now), expiresAt);
    if (expiresAt !== old.expires_at) {
      // Nodes cache a key's credential, its expiry with it: announced like a revocation, every
      // node drops the key and reads its new expiry before this write answers.
      if (write.revocations === null) throw new Error("this process has no revocation channel: it cannot shorten a key's life");
      write.afterCommit(await write.revocations.announce(write.tx, [old.id]));
    }
  }

  const issued = await storeNewKey(
    write,
    actor,
    customerId,
    {
      name: old.name,
      instanceId: old.instance_id,
      mode: old.mode,
      scopes: old.scopes,
      allowedIps: old.allowed_ips,
      expiresAt: old.expires_at,
    },
    write.maxActiveKeys,
  );
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "api_key.rolled",
    target: { type: "api_key", id: old.id },
    metadata: { new_key_id: issued.id, new_key_prefix: issued.prefix, expires_in_seconds: input.expiresInSeconds },
  });
  return issued;
}
