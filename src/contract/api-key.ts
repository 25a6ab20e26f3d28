import Type, { type Static } from "typebox";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "./common.js";
import { SCOPES } from "./scopes.js";

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
  {
    additionalProperties: false,
    examples: [
      {
        id: "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70",
        customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        instance_id: null,
        name: "CI deploys",
        prefix: "zpk_live_Q7mX2kPz",
        scopes: ["messages:send"],
        last_used_at: null,
        expires_at: "2027-01-31T12:00:00.000Z",
        created_at: "2026-11-26T14:00:00.000Z",
        revoked_at: null,
        secret: "zpk_live_Q7mX2kPz… (the whole key, shown in this response only)",
      },
    ],
  },
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
  {
    additionalProperties: false,
    examples: [{ name: "CI deploys", scopes: ["messages:send"], expires_at: "2027-01-31T12:00:00Z" }],
  },
);

/** A key as customers see it: never its digest. */
export type ApiKey = Static<typeof ApiKeySchema>;
/** A key as issued: with its secret, shown in that one response. */
export type IssuedApiKey = Static<typeof IssuedApiKeySchema>;
export type IssueApiKeyBody = Static<typeof IssueApiKeyBody>;
