import Type from "typebox";
import { Timestamp } from "./common.js";

const Bucket = Type.Object(
  {
    limit: Type.Integer({ description: "The bucket's capacity (burst)" }),
    remaining: Type.Integer({ description: "Requests available now" }),
    reset_at: Timestamp,
  },
  { additionalProperties: false },
);

/**
 * `GET /v1/limits`: the calling key's bucket and the one all of its customer's keys share,
 * reported without spending a token. A request needs a token from both.
 */
export const LimitsSchema = Type.Object(
  {
    per_key: Bucket,
    per_customer: Bucket,
  },
  {
    $id: "Limits",
    additionalProperties: false,
    description: "The rate-limit headroom of the calling key and of its customer",
    examples: [
      {
        per_key: { limit: 100, remaining: 97, reset_at: "2026-11-26T15:00:03.000Z" },
        per_customer: { limit: 1000, remaining: 988, reset_at: "2026-11-26T15:00:01.200Z" },
      },
    ],
  },
);
