import type { TransportName } from "../instances/instance-repository.js";
import type { Services } from "../services.js";
import { CloudApiTransport } from "./cloud-api-transport.js";
import { SandboxTransport } from "./sandbox-transport.js";
import type { Transport } from "./transport.js";

/** The transport an instance uses, by its `transport` column. */
export function transportFor(name: TransportName, services: Services): Transport {
  switch (name) {
    case "sandbox":
      return new SandboxTransport();
    case "cloud_api":
      return new CloudApiTransport(services.config.cloudApi);
  }
}
