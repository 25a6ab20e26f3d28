import type { App } from "../../http/app-types.js";
import type { RouteDependencies } from "../route-dependencies.js";
import { registerGetMessage } from "./get-message.js";
import { registerListMessages } from "./list-messages.js";
import { registerReceiveSandboxMessage } from "./receive-sandbox-message.js";
import { registerSendMessage } from "./send-message.js";

export function registerMessageRoutes(app: App, deps: RouteDependencies): void {
  registerSendMessage(app, deps);
  registerListMessages(app, deps);
  registerGetMessage(app, deps);
  registerReceiveSandboxMessage(app, deps);
}
