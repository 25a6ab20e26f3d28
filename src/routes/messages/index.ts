import type { App } from "../../http/app-types.js";
import type { Services } from "../../services.js";
import { registerSendMessage } from "./send-message.js";

export function registerMessageRoutes(app: App, services: Services): void {
  registerSendMessage(app, services);
}
