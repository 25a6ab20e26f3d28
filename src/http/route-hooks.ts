import type { onSendHookHandler, preHandlerHookHandler, preValidationHookHandler, RouteOptions } from "fastify";
import type { App } from "./app-types.js";

type RouteHooks = {
  preValidation: preValidationHookHandler;
  preHandler: preHandlerHookHandler;
  onSend: onSendHookHandler;
};
type Phase = keyof RouteHooks;

/** How many hooks of each phase a context added to a route, ahead of the route's own. */
const addedByContext = new WeakMap<RouteOptions, Record<Phase, number>>();

/**
 * Adds a context's hook of one phase to the routes that need it, not to every route. Fastify runs
 * a phase's runner for a route that has any hook in it, whether the hook finds something to do or
 * not: hooks only POST routes use (the key's re-check once the body is in, Idempotency-Key) cost
 * every GET three runners. The hook runs where `app.addHook` would have put it: after the hooks
 * the context added before it, before the route's own.
 */
export function addRouteHook<P extends Phase>(app: App, phase: P, appliesTo: (route: RouteOptions) => boolean, hook: RouteHooks[P]): void {
  app.addHook("onRoute", (route) => {
    if (!appliesTo(route)) return;
    const added = addedByContext.get(route) ?? { preValidation: 0, preHandler: 0, onSend: 0 };
    addedByContext.set(route, added);
    const own: unknown = route[phase];
    const hooks: unknown[] = own === undefined ? [] : Array.isArray(own) ? [...own] : [own];
    hooks.splice(added[phase], 0, hook);
    added[phase] += 1;
    (route as Record<Phase, unknown>)[phase] = hooks;
  });
}

/** The methods a route answers: Fastify takes one or a list. */
export function routeMethods(route: RouteOptions): string[] {
  return Array.isArray(route.method) ? route.method : [route.method];
}

/** Whether a route answers a method that carries a body: one Fastify reads a body for. */
export function takesBody(route: RouteOptions): boolean {
  return routeMethods(route).some((method) => method !== "GET" && method !== "HEAD");
}
