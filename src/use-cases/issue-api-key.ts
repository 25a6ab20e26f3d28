import { countActiveKeys, insertApiKey } from "../api-keys/api-key-repository.js";
import type { Actor, KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { ApiKey, IssuedApiKey } from "../contract/api-key.js";
import { scopesBeyond } from "../contract/scopes.js";
import { displayPrefix, generateKey, type KeyMode } from "../crypto/key-format.js";
import { AppError } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { lockLiveInstance } from "../instances/instance-repository.js";
import { entriesOutside } from "../net/ip-allowlist.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Write } from "./write.js";

export type IssueApiKeyInput = {
  name: string;
  /** The one instance the key is bound to, for good; null for every instance of the customer. */
  instanceId: string | null;
  /** Omitted: the issuer's scopes. */
  scopes?: string[] | undefined;
  /** Omitted: the issuer's expiry; null: never. A timestamp already checked to be in the future. */
  expiresAt?: string | null | undefined;
  /** Omitted: the issuer's mode. */
  mode?: KeyMode | undefined;
  /** Omitted: the issuer's list; null: anywhere. */
  allowedIps?: string[] | null | undefined;
};

/**
 * `POST /v1/api-keys`: a key issued by a key. It never holds a scope its issuer lacks, outlives
 * an expiring issuer, is live when its issuer is a test key, nor is usable from an address its
 * issuer is not (403 scope_escalation); it is bound only to a live instance of the
 * customer (404 instance_not_found), and a customer holds at most MAX_ACTIVE_KEYS active keys
 * (409 key_limit_reached).
 */
export async function issueApiKey(write: Write, actor: KeyActor, input: IssueApiKeyInput): Promise<IssuedApiKey> {
  const issuer = actor.key;
  const scopes = input.scopes ?? [...issuer.scopes];
  const expiresAt = input.expiresAt === undefined ? issuer.expires_at : input.expiresAt;
  const beyond = scopesBeyond(issuer.scopes, scopes);
  if (beyond.length > 0) {
    throw new AppError("scope_escalation", "A key cannot be given scopes its issuer does not hold.", {
      scopes: beyond,
      issuer_scopes: issuer.scopes,
    });
  }
  if (issuer.expires_at !== null && (expiresAt === null || expiresAt > issuer.expires_at)) {
    throw new AppError("scope_escalation", "A key cannot outlive the key that issues it.", {
      issuer_expires_at: issuer.expires_at,
    });
  }
  const mode = input.mode ?? issuer.mode;
  if (issuer.mode === "test" && mode === "live") {
    throw new AppError("scope_escalation", "A test key cannot issue a live key.", { issuer_mode: issuer.mode });
  }
  const allowedIps = input.allowedIps === undefined ? (issuer.allowed_ips && [...issuer.allowed_ips]) : input.allowedIps;
  if (issuer.allowed_ips !== null) {
    if (allowedIps === null) {
      throw new AppError("scope_escalation", "A key with an IP allowlist cannot issue a key usable from anywhere.", {
        issuer_allowed_ips: issuer.allowed_ips,
      });
    }
    const outside = entriesOutside(issuer.allowed_ips, allowedIps);
    if (outside.length > 0) {
      throw new AppError("scope_escalation", "A key cannot be usable from addresses its issuer is not.", {
        allowed_ips: outside,
        issuer_allowed_ips: issuer.allowed_ips,
      });
    }
  }
  if (input.instanceId !== null && !(await lockLiveInstance(write.tx, issuer.customer_id, input.instanceId))) {
    throw new AppError("instance_not_found", "No such instance to bind the key to.", { instance_id: input.instanceId });
  }
  return storeNewKey(
    write,
    actor,
    issuer.customer_id,
    {
      name: input.name,
      instanceId: input.instanceId,
      mode,
      scopes,
      allowedIps,
      expiresAt,
    },
    write.maxActiveKeys,
  );
}

/**
 * Makes a key, stores only its peppered digest, and writes its audit event and webhook event, all
 * in the write's transaction. The returned secret exists nowhere else: the caller shows it once.
 * With `maxActiveKeys`, a customer that would then hold more active keys is refused (409
 * key_limit_reached, and the transaction rolls back); the operator's keys are not capped (null).
 */
/** Everything a new key is given; the rest (id, prefix, times) is made for it. */
export type NewKeySettings = {
  name: string;
  instanceId: string | null;
  mode: KeyMode;
  scopes: string[];
  allowedIps: string[] | null;
  expiresAt: string | null;
};

export async function storeNewKey(
  write: Write,
  actor: Actor,
  customerId: string,
  key: NewKeySettings,
  maxActiveKeys: number | null,
): Promise<IssuedApiKey> {
  const secret = generateKey(key.mode);
  const stored: ApiKey = {
    id: newId(),
    customer_id: customerId,
    instance_id: key.instanceId,
    name: key.name,
    prefix: displayPrefix(secret),
    mode: key.mode,
    scopes: key.scopes,
    allowed_ips: key.allowedIps,
    last_used_at: null,
    expires_at: key.expiresAt,
    created_at: nowTimestamp(),
    revoked_at: null,
  };
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "api_key.issued",
    target: { type: "api_key", id: stored.id },
    metadata: {
      name: stored.name,
      prefix: stored.prefix,
      mode: stored.mode,
      scopes: stored.scopes,
      allowed_ips: stored.allowed_ips,
      instance_id: stored.instance_id,
      expires_at: stored.expires_at,
    },
  });
  await write.outbox.emit(write.tx, customerId, {
    event: "api_key.issued",
    instanceId: stored.instance_id,
    data: { api_key: stored },
  });
  const { customer_id: _customer, ...record } = stored;
  // Stored last: from here to the commit, the customer's other issues wait (see insertApiKey).
  const unrevokedKeys = await insertApiKey(write.tx, customerId, { ...record, digest: write.keyDigests.digest(secret) });
  // Expired keys are among the unrevoked but free their place: only past the cap are they told apart.
  if (maxActiveKeys !== null && unrevokedKeys > maxActiveKeys) {
    const active = await countActiveKeys(write.tx, customerId, nowTimestamp(), maxActiveKeys + 1);
    if (active > maxActiveKeys) {
      throw new AppError("key_limit_reached", `This customer already has ${maxActiveKeys} active keys, the most it may hold. Revoke one first.`, {
        max_active_keys: maxActiveKeys,
      });
    }
  }
  return { ...stored, secret };
}
