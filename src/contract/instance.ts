import Type, { type Static } from "typebox";
import { Timestamp, Uuid } from "./common.js";

export const INSTANCE_STATUSES = ["pending", "qr", "connecting", "connected", "disconnected", "failed"] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];
/** How an instance reaches WhatsApp: the `sandbox` (no network) or the WhatsApp Cloud API. */
export const TRANSPORTS = ["sandbox", "cloud_api"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

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

export type Instance = Static<typeof InstanceSchema>;
export type CreateInstanceBody = Static<typeof CreateInstanceBody>;
