import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerCreateInstance } from "./create-instance.js";
import { registerDeleteInstance } from "./delete-instance.js";
import { registerGetInstance } from "./get-instance.js";
import { registerListInstances } from "./list-instances.js";

export function registerInstanceRoutes(app: App, deps: RouteDependencies): void {
  registerListInstances(app, deps);
  registerCreateInstance(app, deps);
  registerGetInstance(app, deps);
  registerDeleteInstance(app, deps);
}
