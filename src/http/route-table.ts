import FindMyWay, { type HTTPMethod } from "find-my-way";
import type { App } from "./app-types.js";
import type { RouteAccess } from "./route-access.js";
import { routeMethods } from "./route-hooks.js";

export type RegisteredRoute = {
  method: string;
  url: string;
  /** The route's declared access; undefined for the public routes, outside `/v1`. */
  access: RouteAccess | undefined;
  /** Declared public although under `/v1` (config.public): it takes no key. */
  public: boolean;
  /** Whether the route reads a body (it declares a body schema): the held-body tests walk these. */
  hasBody: boolean;
};

const ANSWERABLE_METHODS: HTTPMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/**
 * Every route of the app as it was registered, in every encapsulated context. It must be created
 * before the first route. The 404/405 handler asks it which methods a path has; the tests walk it
 * to prove that every route declares its access and enforces it.
 */
export class RouteTable {
  private readonly registered: RegisteredRoute[] = [];
  private readonly methodsByPath = FindMyWay();

  constructor(app: App) {
    app.addHook("onRoute", (route) => {
      for (const method of routeMethods(route).map((name) => name.toUpperCase())) {
        if (this.registered.some((known) => known.method === method && known.url === route.url)) continue;
        this.registered.push({
          method,
          url: route.url,
          access: route.config?.access,
          public: route.config?.public === true,
          hasBody: route.schema?.body !== undefined,
        });
        this.methodsByPath.on(method as HTTPMethod, route.url, () => undefined);
      }
    });
  }

  get routes(): readonly RegisteredRoute[] {
    return this.registered;
  }

  /** The methods a concrete path answers to, for a 405's `Allow`. */
  methodsAt(path: string): string[] {
    return ANSWERABLE_METHODS.filter((method) => this.methodsByPath.find(method, path) !== null);
  }
}
