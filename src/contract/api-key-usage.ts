import Type, { type Static } from "typebox";
import { Timestamp, Uuid } from "./common.js";

export const USAGE_GRANULARITIES = ["hour", "day"] as const;
export type UsageGranularity = (typeof USAGE_GRANULARITIES)[number];

/** The most periods one answer holds: 83 days of hours, over five years of days. */
export const MAX_USAGE_PERIODS = 2_000;
/** The range when `from` is not given: the last 30 days (up to `to`). */
export const DEFAULT_USAGE_DAYS = 30;

export const ApiKeyUsageQuery = Type.Object(
  {
    granularity: Type.Optional(Type.Enum([...USAGE_GRANULARITIES], { default: "day" })),
    from: Type.Optional(Type.String({ format: "date-time", description: "Rounded down to the start of its period. Default: `to` less 30 days" })),
    to: Type.Optional(Type.String({ format: "date-time", description: "Exclusive: the last period is the one that holds the instant before it. Default: now" })),
  },
  { additionalProperties: false },
);

const UsagePeriodSchema = Type.Object(
  {
    start: Timestamp,
    requests: Type.Integer({ description: "Authenticated requests made with the key, whatever their answer" }),
    rejected: Type.Integer({ description: "Those of them answered 4xx or 5xx" }),
    rate_limited: Type.Integer({ description: "Those of them answered 429" }),
  },
  { $id: "UsagePeriod", additionalProperties: false, description: "One hour or UTC day of a key's requests" },
);
export type UsagePeriod = Static<typeof UsagePeriodSchema>;

/** `GET /v1/api-keys/:id/usage`: one entry per period, oldest first, empty periods as zeros. */
export const ApiKeyUsageSchema = Type.Object(
  {
    key_id: Uuid,
    granularity: Type.Enum([...USAGE_GRANULARITIES]),
    data: Type.Array(UsagePeriodSchema),
  },
  {
    $id: "ApiKeyUsage",
    additionalProperties: false,
    description: "A key's requests per period, oldest first, empty periods as zeros",
    examples: [
      {
        key_id: "01936b2e-7c4a-7f3e-9d2b-5a1c8e4f6b70",
        granularity: "day",
        data: [
          { start: "2026-11-25T00:00:00.000Z", requests: 1204, rejected: 12, rate_limited: 3 },
          { start: "2026-11-26T00:00:00.000Z", requests: 0, rejected: 0, rate_limited: 0 },
        ],
      },
    ],
  },
);
export type ApiKeyUsage = Static<typeof ApiKeyUsageSchema>;
