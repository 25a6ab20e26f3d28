import type { App } from "../../http/app-types.js";
import type { Services } from "../../services.js";
import { registerCreateInstance } from "./create-instance.js";
import { registerDeleteInstance } from "./delete-instance.js";
import { registerGetInstance } from "./get-instance.js";
import { registerListInstances } from "./list-instances.js";

export function registerInstanceRoutes(app: App, services: Services): void {
  registerListInstances(app, services);
  registerCreateInstance(app, services);
  registerGetInstance(app, services);
  registerDeleteInstance(app, services);
}
