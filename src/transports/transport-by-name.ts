import type { CloudApiConfig } from "../config.js";
import type { TransportName } from "../contract/instance.js";
import { CloudApiTransport } from "./cloud-api-transport.js";
import { SandboxTransport } from "./sandbox-transport.js";
import type { Transport } from "./transport.js";

/** The transport an instance uses, by its `transport` column. */
export function transportFor(name: TransportName, cloudApi: CloudApiConfig | null): Transport {
  switch (name) {
    case "sandbox":
      return new SandboxTransport();
    case "cloud_api":
      return new CloudApiTransport(cloudApi);
  }
}
