import type { KeyCredential } from "../api-keys/api-key-repository.js";
import type { Scope } from "../contract/scopes.js";

/**
 * How a route treats instance-bound keys:
 * - `multi`: the route spans instances; bound keys are refused (403 instance_scoped_key).
 * - `param`: the route acts on the instance in its `:id`; a bound key only on its own.
 * - `narrowed`: the route reads rows of many instances; the handler narrows a bound key's view
 *   to its own instance (a list is filtered, another instance's row is 404).
 * - `none`: the route is about neither (e.g. the key's own limits).
 */
export type InstanceAccess = "multi" | "param" | "narrowed" | "none";

/** What every authenticated route must declare in its `config.access`. */
export type RouteAccess = {
  /** The scope the key needs; `null` for routes any valid key may call. */
  scope: Scope | null;
  instances: InstanceAccess;
  /** False for routes that only report the bucket, such as `GET /v1/limits`. */
  spendsToken?: boolean;
};

declare module "fastify" {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /**
     * A route under /v1 that takes no key (`POST /v1/leaked-keys`), registered at the root. Said
     * here, not inferred from its URL, so that the tests walking /v1 know it is meant to be open.
     */
    public?: true;
  }
  interface FastifyRequest {
    /** The authenticated key; set by the authentication hook on every authenticated route. */
    apiKey: KeyCredential;
    /** The key's digest, kept so that the check after the body repeats no parsing or hashing. */
    keyDigest: string;
  }
}
