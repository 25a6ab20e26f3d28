import Type, { type Static } from "typebox";
import { NullableTimestamp, NullableUuid, Timestamp, Uuid } from "./common.js";
import { SCOPES } from "./scopes.js";

/** `test` keys work like `live` ones but can never make a real WhatsApp message. */
export const KeyModeSchema = Type.Union([Type.Literal("live"), Type.Literal("test")], {
  $id: "KeyMode",
  description: "`test` keys work like `live` ones but can never make a real WhatsApp message",
});

export const ScopeSchema = Type.Enum([...SCOPES], { $id: "Scope", description: "A permission a key holds; `*` holds every other one" });

/** At most this many entries in a key's `allowed_ips`. */
export const MAX_ALLOWED_IPS = 100;

/** A key as the examples of this document show it. */
export const API_KEY_EXAMPLE = {
  id: "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70",
  customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
  instance_id: null,
  name: "CI deploys",
  prefix: "zpk_live_Q7mX2kPz",
  mode: "live",
  scopes: ["messages:send"],
  allowed_ips: null,
  last_used_at: "2027-01-24T11:58:02.511Z",
  expires_at: "2027-01-31T12:00:00.000Z",
  created_at: "2026-11-26T14:00:00.000Z",
  revoked_at: null,
};

export const ApiKeySchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    instance_id: NullableUuid,
    name: Type.String(),
    prefix: Type.String({ description: "zpk_live_ or zpk_test_ and the first 8 characters of the key: for display only" }),
    mode: KeyModeSchema,
    // Plain text, not `Scope`: keys stored before a scope is retired must still be answered, and
    // the server's and the client's types of a key must agree.
    scopes: Type.Array(Type.String(), { description: "The key's scopes: each one a `Scope`" }),
    allowed_ips: Type.Union([Type.Array(Type.String()), Type.Null()], {
      description: "The addresses and CIDR blocks the key may be used from; null for anywhere",
    }),
    last_used_at: NullableTimestamp,
    expires_at: NullableTimestamp,
    created_at: Timestamp,
    revoked_at: NullableTimestamp,
  },
  {
    $id: "ApiKey",
    additionalProperties: false,
    description: "An API key's metadata: never its secret",
    examples: [API_KEY_EXAMPLE],
  },
);

export const IssuedApiKeySchema = Type.Object(
  {
    ...ApiKeySchema.properties,
    secret: Type.String({ description: "The whole key. Shown in this response only." }),
  },
  {
    $id: "IssuedApiKey",
    additionalProperties: false,
    description: "An API key as issued or rolled: its metadata and its secret, shown in this response only",
    examples: [
      {
        id: "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70",
        customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        instance_id: null,
        name: "CI deploys",
        prefix: "zpk_live_Q7mX2kPz",
        mode: "live",
        scopes: ["messages:send"],
        allowed_ips: null,
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
    scopes: Type.Optional(Type.Array(ScopeSchema, { minItems: 1, uniqueItems: true })),
    expires_at: Type.Optional(
      Type.Union([Timestamp, Type.Null()], {
        description: "When the key stops working; null for never. Omitted: the issuing key's expiry.",
      }),
    ),
    mode: Type.Optional(KeyModeSchema),
    allowed_ips: Type.Optional(
      Type.Union([Type.Array(Type.String({ maxLength: 64 }), { minItems: 1, maxItems: MAX_ALLOWED_IPS }), Type.Null()], {
        description: "IPv4 or IPv6 addresses or CIDR blocks, 1 to 100; null for anywhere. Omitted: the issuing key's list.",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ name: "CI deploys", scopes: ["messages:send"], expires_at: "2027-01-31T12:00:00Z" }],
  },
);

/** No body at all is the same as `{}`. */
export const RollApiKeyBody = Type.Object(
  {
    expires_in_seconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 604_800,
        description: "How many seconds the rolled key keeps working beside the new one, at most a week. 0 (the default): it is revoked at once.",
      }),
    ),
  },
  { additionalProperties: false, examples: [{ expires_in_seconds: 3600 }] },
);

/** A key as customers see it: never its digest. */
export type ApiKey = Static<typeof ApiKeySchema>;
/** A key as issued: with its secret, shown in that one response. */
export type IssuedApiKey = Static<typeof IssuedApiKeySchema>;
export type IssueApiKeyBody = Static<typeof IssueApiKeyBody>;
