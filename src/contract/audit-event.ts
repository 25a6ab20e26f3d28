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
  "webhook_delivery.retried",
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
  {
    $id: "AuditEvent",
    additionalProperties: false,
    description: "One entry of the customer's append-only audit log: who did what to which object",
    examples: [
      {
        id: "0198c0e2-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
        customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        action: "api_key.revoked",
        actor: { type: "api_key", id: "01936b2e-3c4d-7e5f-8a9b-0c1d2e3f4a5b", prefix: "zpk_live_Hn3Vb8Ws" },
        target: { type: "api_key", id: "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70" },
        metadata: { name: "CI deploys", prefix: "zpk_live_Q7mX2kPz" },
        ip: "203.0.113.7",
        user_agent: "curl/8.5.0",
        request_id: "req_01JT4B7Z9X2K8Q5R3M6N1P0VWS",
        created_at: "2026-11-26T15:00:00.000Z",
      },
    ],
  },
);

export type AuditEvent = Static<typeof AuditEventSchema>;
