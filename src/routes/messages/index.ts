import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerSendMessage } from "./send-message.js";

export function registerMessageRoutes(app: App, deps: RouteDependencies): void {
  registerSendMessage(app, deps);
}
