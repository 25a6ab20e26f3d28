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
  { additionalProperties: false },
);
