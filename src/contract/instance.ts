import Type from "typebox";
import { Timestamp, Uuid } from "../http/schemas.js";
import { INSTANCE_STATUSES, TRANSPORTS } from "../instances/instance-repository.js";

export const InstanceSchema = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    name: Type.String(),
    transport: Type.Enum([...TRANSPORTS], { description: "How messages reach WhatsApp" }),
    status: Type.Enum([...INSTANCE_STATUSES]),
    phone_number: Type.Union([Type.String(), Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);

export const CreateInstanceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    transport: Type.Optional(
      Type.Enum([...TRANSPORTS], { description: "sandbox (the default, no network) or cloud_api (the WhatsApp Cloud API)" }),
    ),
    phone_number_id: Type.Optional(
      Type.String({
        pattern: "^[0-9]{1,30}$",
        description: "The WhatsApp Business phone number id; required for cloud_api, refused otherwise",
      }),
    ),
  },
  { additionalProperties: false },
);

