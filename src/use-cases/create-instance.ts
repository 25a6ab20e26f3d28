import type { KeyActor } from "../audit/actor.js";
import { recordAuditEvent } from "../audit/audit-repository.js";
import type { CloudApiConfig } from "../config.js";
import type { Instance, TransportName } from "../contract/instance.js";
import { validationFailed } from "../errors/app-error.js";
import { newId } from "../ids/uuid-v7.js";
import { insertInstance, isProviderPhoneNumberInUse } from "../instances/instance-repository.js";
import { nowTimestamp } from "../time/timestamps.js";
import type { Connection } from "../transports/transport.js";
import { transportFor } from "../transports/transport-by-name.js";
import type { Write } from "./write.js";

/** A new instance's transport and what connecting it found out: the input of `createInstance`. */
export type ConnectedTransport = { transport: TransportName; connection: Connection };

/**
 * The step of creating an instance that comes before its transaction: connecting may call the
 * network (the Cloud API verifies the number), and a transaction must stay short. A refusal (400)
 * happens here, before anything is written.
 */
export async function connectTransport(
  cloudApi: CloudApiConfig | null,
  input: { transport: TransportName; phoneNumberId: string | null },
): Promise<ConnectedTransport> {
  const transport = transportFor(input.transport, cloudApi);
  return { transport: transport.name, connection: await transport.connect({ phoneNumberId: input.phoneNumberId }) };
}

/** `POST /v1/instances`: one Cloud API number answers to one live instance, of any customer. */
export async function createInstance(
  write: Write,
  actor: KeyActor,
  input: { name: string; connected: ConnectedTransport },
): Promise<Instance> {
  const customerId = actor.key.customer_id;
  const { transport, connection } = input.connected;
  const providerId = connection.providerPhoneNumberId;
  if (providerId !== null && (await isProviderPhoneNumberInUse(write.tx, providerId))) {
    throw validationFailed([{ field: "body.phone_number_id", message: "is already connected to another instance" }]);
  }
  const now = nowTimestamp();
  const created = await insertInstance(
    write.tx,
    customerId,
    {
      id: newId(),
      name: input.name,
      transport,
      status: connection.status,
      phone_number: connection.phoneNumber,
      created_at: now,
      updated_at: now,
    },
    providerId,
  );
  await recordAuditEvent(write.tx, customerId, actor, {
    action: "instance.created",
    target: { type: "instance", id: created.id },
    metadata: { name: created.name, transport: created.transport },
  });
  await write.outbox.emit(write.tx, customerId, {
    event: "instance.created",
    instanceId: created.id,
    data: { instance: created },
  });
  return created;
}
