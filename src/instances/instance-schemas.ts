import Type from "typebox";
import { Timestamp, Uuid } from "../http/schemas.js";
import { INSTANCE_STATUSES } from "./instance-repository.js";

export const InstanceSchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    name: Type.String(),
    status: Type.Enum([...INSTANCE_STATUSES]),
    phone_number: Type.Union([Type.String(), Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);

export const CreateInstanceBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

