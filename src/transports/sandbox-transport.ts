import { validationFailed } from "../errors/app-error.js";
import type { Connection, ConnectRequest, Transport } from "./transport.js";

/** The sandbox fails every message to this number, so integrations can test their failure path. */
export const SANDBOX_FAILING_NUMBER = "+15550000000";
export const SANDBOX_FAILURE_ERROR = `The sandbox fails every message to ${SANDBOX_FAILING_NUMBER} (its test number for failures).`;

/**
 * The default transport: no network, no WhatsApp. An instance is connected at once, and the
 * SandboxClock worker plays each message's lifecycle (see sandbox-clock.ts).
 */
export class SandboxTransport implements Transport {
  readonly name = "sandbox" as const;

  async connect(request: ConnectRequest): Promise<Connection> {
    if (request.phoneNumberId !== null) {
      throw validationFailed([{ field: "body.phone_number_id", message: "is only allowed with transport cloud_api" }]);
    }
    return { status: "connected", phoneNumber: null, providerPhoneNumberId: null };
  }
}
