import Type from "typebox";
import { SCOPES } from "../auth/scopes.js";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "../http/schemas.js";

export const ApiKeySchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    instance_id: NullableUuid,
    name: Type.String(),
    prefix: Type.String({ description: "zpk_live_ and the first 8 characters of the key: for display only" }),
    scopes: Type.Array(Type.String()),
    last_used_at: NullableTimestamp,
    expires_at: NullableTimestamp,
    created_at: Timestamp,
    revoked_at: NullableTimestamp,
  },
  { additionalProperties: false },
);

export const IssuedApiKeySchema = Type.Object(
  {
    ...ApiKeySchema.properties,
    secret: Type.String({ description: "The whole key. Shown in this response only." }),
  },
  { additionalProperties: false },
);

export const IssueApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    instance_id: Type.Optional(Uuid),
    scopes: Type.Optional(Type.Array(Type.Enum([...SCOPES]), { minItems: 1, uniqueItems: true })),
    expires_at: Type.Optional(
      Type.Union([Timestamp, Type.Null()], {
        description: "When the key stops working; null for never. Omitted: the issuing key's expiry.",
      }),
    ),
  },
  { additionalProperties: false },
);
