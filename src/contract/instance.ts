import Type, { type Static } from "typebox";
import { Timestamp, Uuid } from "./common.js";

export const INSTANCE_STATUSES = ["pending", "qr", "connecting", "connected", "disconnected", "failed"] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];
/** How an instance reaches WhatsApp: the `sandbox` (no network) or the WhatsApp Cloud API. */
export const TRANSPORTS = ["sandbox", "cloud_api"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** An instance as the examples of this document show it. */
export const INSTANCE_EXAMPLE = {
  id: "0198c0de-4b1a-7c3e-9f00-5a1b2c3d4e5f",
  customer_id: "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
  name: "Support line",
  transport: "sandbox",
  status: "connected",
  phone_number: "+15551234567",
  created_at: "2026-11-26T14:05:00.000Z",
  updated_at: "2026-11-26T14:05:00.000Z",
};

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
  {
    $id: "Instance",
    additionalProperties: false,
    description: "A WhatsApp number of the customer's, and how it reaches WhatsApp",
    examples: [INSTANCE_EXAMPLE],
  },
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
  { additionalProperties: false, examples: [{ name: "Support line", transport: "sandbox" }] },
);

export type Instance = Static<typeof InstanceSchema>;
export type CreateInstanceBody = Static<typeof CreateInstanceBody>;
