import Type from "typebox";
import { Timestamp } from "./common.js";

/** `GET /v1/limits`: the calling key's bucket, reported without spending a token. */
export const LimitsSchema = Type.Object(
  {
    per_key: Type.Object(
      {
        limit: Type.Integer({ description: "The bucket's capacity (burst)" }),
        remaining: Type.Integer({ description: "Requests available now" }),
        reset_at: Timestamp,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
