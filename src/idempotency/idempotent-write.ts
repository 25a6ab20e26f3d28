import type { FastifyRequest } from "fastify";
import type { Actor } from "../audit/actor.js";
import type { Write } from "../use-cases/write.js";
import { completeIdempotencyKey } from "./idempotency-repository.js";

/**
 * The write of a route that honours `Idempotency-Key`: `write(actor, idempotent(request, 201, work))`.
 * When the request holds a key, the answer (`status` and the work's result, as `stored` keeps it)
 * is recorded in the same transaction as the change, so that the record exists exactly when the
 * change does, on every node. `stored` leaves out what must never be stored: a one-time secret.
 * The answer sent is the route's own; a replay sends the stored one through the same schema.
 */
export function idempotent<A extends Actor | null, T>(
  request: FastifyRequest,
  status: number,
  work: (write: Write, actor: A) => Promise<T>,
  stored: (result: T) => unknown = (result) => result,
): (write: Write, actor: A) => Promise<T> {
  return async (write, actor) => {
    const result = await work(write, actor);
    const claim = request.idempotencyClaim;
    if (claim !== null) {
      await completeIdempotencyKey(write.tx, claim, status, stored(result));
      // Only a commit makes the record final: until then a failure must still release it.
      write.afterCommit(() => {
        claim.completed = true;
      });
    }
    return result;
  };
}
