import Type from "typebox";
import { Timestamp, Uuid } from "../http/schemas.js";

const NullableString = Type.Union([Type.String(), Type.Null()]);

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
