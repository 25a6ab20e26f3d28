import Type, { type Static } from "typebox";
import { NullableString, Timestamp, Uuid } from "./common.js";

/** Every action the audit log records: `noun.verb`. */
export const AUDIT_ACTIONS = [
  "customer.created",
  "api_key.issued",
  "api_key.revoked",
  "api_key.rolled",
  "instance.created",
  "instance.deleted",
  "webhook_endpoint.created",
  "webhook_endpoint.deleted",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditEventSchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    action: Type.String({ description: "noun.verb, e.g. api_key.revoked" }),
    actor: Type.Union([
      Type.Object(
        { type: Type.Literal("api_key"), id: Uuid, prefix: Type.String() },
        { additionalProperties: false },
      ),
      Type.Object({ type: Type.Literal("cli") }, { additionalProperties: false }),
      Type.Object({ type: Type.Literal("leak_report") }, { additionalProperties: false, description: "A report of leaked keys (POST /v1/leaked-keys)" }),
    ]),
    target: Type.Object({ type: Type.String(), id: Type.String() }, { additionalProperties: false }),
    metadata: Type.Record(Type.String(), Type.Unknown(), { description: "What changed; never a secret" }),
    ip: NullableString,
    user_agent: NullableString,
    request_id: NullableString,
    created_at: Timestamp,
  },
  { additionalProperties: false },
);

export type AuditEvent = Static<typeof AuditEventSchema>;
