import { displayPrefix, generateKey } from "../crypto/key-format.js";
import { keyDigest } from "../crypto/key-digest.js";
import { recordAuditEvent, type AuditOrigin } from "../audit/audit-repository.js";
import { newId } from "../ids/uuid-v7.js";
import type { Tx } from "../db/schema.js";
import { nowTimestamp } from "../time/timestamps.js";
import { insertApiKey, type ApiKey } from "../api-keys/api-key-repository.js";

export type IssuedApiKey = ApiKey & { secret: string };

export type KeyToIssue = {
  name: string;
  instanceId: string | null;
  scopes: string[];
  expiresAt: string | null;
};

/**
 * Makes a key, stores only its peppered digest and writes `api_key.issued`, all in the caller's
 * transaction. The returned secret exists nowhere else: the caller shows it once.
 */
export async function issueApiKey(
  tx: Tx,
  customerId: string,
  pepper: string,
  key: KeyToIssue,
  origin: AuditOrigin,
): Promise<IssuedApiKey> {
  const secret = generateKey();
  const stored = await insertApiKey(tx, customerId, {
    id: newId(),
    instance_id: key.instanceId,
    name: key.name,
    prefix: displayPrefix(secret),
    digest: keyDigest(pepper, secret),
    scopes: key.scopes,
    expires_at: key.expiresAt,
    created_at: nowTimestamp(),
  });
  await recordAuditEvent(tx, customerId, origin, {
    action: "api_key.issued",
    target: { type: "api_key", id: stored.id },
    metadata: {
      name: stored.name,
      prefix: stored.prefix,
      scopes: stored.scopes,
      instance_id: stored.instance_id,
      expires_at: stored.expires_at,
    },
  });
  return { ...stored, secret };
}
