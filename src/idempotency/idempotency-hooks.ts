import type { FastifyRequest, RouteOptions } from "fastify";
import Type from "typebox";
import type { Db } from "../db/schema.js";
import { AppError, validationFailed, type ErrorCode } from "../errors/app-error.js";
import type { App } from "../http/app-types.js";
import { addRouteHook, routeMethods } from "../http/route-hooks.js";
import { requestFingerprint } from "./fingerprint.js";
import { claimIdempotencyKey, releaseIdempotencyKey, type IdempotencyClaim } from "./idempotency-repository.js";

/**
 * What a POST route does with an `Idempotency-Key` header, in its `config.idempotency`:
 * - `"honoured"`: a retry with the key gets the first answer again; the route's write must go
 *   through `idempotent(...)` (idempotent-write.ts) and its schema take `IdempotencyKeyHeaders`.
 * - `{ refused: why }`: the header is refused (400) with that reason, e.g. on routes whose answer
 *   holds a secret that a replay would need stored.
 * Absent, a POST with the header is refused as unsupported: a client relying on the header must
 * not believe it protected. GET and DELETE ignore it (they are idempotent already).
 */
export type IdempotencyPolicy = "honoured" | { refused: string };

declare module "fastify" {
  interface FastifyContextConfig {
    idempotency?: IdempotencyPolicy;
  }
  interface FastifyRequest {
    /** The key a request on an honoured route holds while it runs; null without one. */
    idempotencyClaim: IdempotencyClaim | null;
  }
}

const HEADER = "idempotency-key";
const FIELD = `headers.${HEADER}`;
const MAX_KEY_LENGTH = 255;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * The header in the schema of an honoured route, for the OpenAPI document. The hooks below check
 * it first (in preValidation), with messages of their own, so this schema never refuses anything.
 */
export const IdempotencyKeyHeaders = Type.Object({
  [HEADER]: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_KEY_LENGTH,
      pattern: "^[\\x20-\\x7E]+$",
      description:
        "Any 1 to 255 printable ASCII characters, new for each request (a UUID). A retry with the same key and the same request within 24 hours gets the first answer again, with `Idempotent-Replayed: true`, and changes nothing (docs/idempotency.md).",
    }),
  ),
});

/** Why the routes that answer with a new API key's secret refuse the header. */
export const SECRET_NOT_REPLAYED =
  "is refused on this route: its answer holds a new API key's secret, shown once, and replaying it would need that secret stored. Send the request without it; after a timeout, list your keys (GET /v1/api-keys) before issuing again";

/** The refusals an honoured route adds to its responses. */
export const IDEMPOTENCY_ERRORS: ErrorCode[] = ["idempotency_key_reused", "idempotency_key_in_use"];

/**
 * Makes the `/v1` context honour `Idempotency-Key` where its routes say so. The flow
 * (docs/idempotency.md): preValidation checks the header and refuses it on routes that do not
 * honour it; preHandler, once the body is valid, claims the key in its own short statement, or
 * answers from the record (a replay, 422 or 409) without running the handler; the route's write
 * completes the record in the change's own transaction (`idempotent`); onSend, on every answer
 * that did not complete it (the handler failed), deletes the record before the client can retry.
 */
export function installIdempotency(app: App, db: Db): void {
  app.decorateRequest("idempotencyClaim", null);

  app.addHook("onRoute", (route) => {
    if (route.config?.idempotency === "honoured" && route.schema?.headers !== IdempotencyKeyHeaders) {
      throw new Error(`${String(route.method)} ${route.url} honours Idempotency-Key but its schema lacks IdempotencyKeyHeaders`);
    }
  });

  addRouteHook(app, "preValidation", answersPost, function refuseUnusableIdempotencyKey(request, _reply, done) {
    if (!sendsKey(request)) return done();
    const problem = headerProblem(request);
    if (problem !== null) return done(validationFailed([{ field: FIELD, message: problem }]));
    done();
  });

  addRouteHook(app, "preHandler", honours, function claimOrReplayIdempotencyKey(request, reply, done) {
    if (!sendsKey(request)) return done();
    const fingerprint = requestFingerprint({
      method: request.method,
      route: request.routeOptions.url ?? "",
      params: request.params,
      body: request.body,
    });
    claimIdempotencyKey(db, request.apiKey.customer_id, request.headers[HEADER] as string, fingerprint, Date.now()).then((claim) => {
      switch (claim.outcome) {
        case "claimed":
          request.idempotencyClaim = claim.claim;
          return done();
        case "replay":
          reply.code(claim.status).header("idempotent-replayed", "true").send(claim.body);
          return;
        case "reused":
          return done(keyReused());
        case "in_use":
          return done(keyInUse());
      }
    }, done);
  });

  addRouteHook(app, "onSend", honours, function releaseUncompletedIdempotencyClaim(request, _reply, payload, done) {
    const claim = request.idempotencyClaim;
    if (claim === null || claim.completed) return done(null, payload);
    request.idempotencyClaim = null;
    releaseIdempotencyKey(db, claim).then(
      () => done(null, payload),
      (error: unknown) => {
        // The lease frees the key later: the answer is not held back for it.
        request.log.warn({ err: error }, "releasing an idempotency key failed");
        done(null, payload);
      },
    );
  });
}

function answersPost(route: RouteOptions): boolean {
  return routeMethods(route).includes("POST");
}

function honours(route: RouteOptions): boolean {
  return route.config?.idempotency === "honoured";
}

function sendsKey(request: FastifyRequest): boolean {
  return request.method === "POST" && request.headers[HEADER] !== undefined;
}

/** Why the header is refused on this request, or null when the route may use it. */
function headerProblem(request: FastifyRequest): string | null {
  const policy = request.routeOptions.config.idempotency;
  if (policy === undefined) return "is not supported on this route: it would be ignored, so it is refused";
  if (policy !== "honoured") return policy.refused;
  // Node joins repeated lines of an unknown header with ", ", which would make them one key.
  if (headerLines(request) > 1) return "was sent more than once; send exactly one Idempotency-Key header";
  const key = request.headers[HEADER] as string;
  if (key.length === 0) return "must not be empty";
  if (key.length > MAX_KEY_LENGTH) return `must be at most ${MAX_KEY_LENGTH} characters long`;
  if (!PRINTABLE_ASCII.test(key)) return "must be printable ASCII only (0x20 to 0x7E)";
  return null;
}

function headerLines(request: FastifyRequest): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index]!;
    if (name.length === HEADER.length && name.toLowerCase() === HEADER) count += 1;
  }
  return count;
}

function keyReused(): AppError {
  return new AppError(
    "idempotency_key_reused",
    "This Idempotency-Key was already used for a different request (another route, path or body). Use a new key for each new request.",
  );
}

function keyInUse(): AppError {
  return new AppError(
    "idempotency_key_in_use",
    "A request with this Idempotency-Key is still in progress. Retry after it has finished.",
    undefined,
    { "retry-after": "1" },
  );
}
