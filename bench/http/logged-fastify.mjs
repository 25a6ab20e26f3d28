// The Fastify app the comparison servers (the floor, better-auth's) start from, with our server's
// logger settings: pino at LOG_LEVEL, lines written to standard output by the 4 KiB and flushed
// every 100 ms, one line per answered request. better-auth's setup copies this file beside its
// server, where "fastify" and "pino" are its temporary folder's own.
import Fastify from "fastify";
import { destination, pino } from "pino";

export function loggedFastify() {
  const output = destination({ dest: 1, minLength: 4096 });
  setInterval(() => output.flush(), 100).unref();
  const app = Fastify({ loggerInstance: pino({ level: process.env.LOG_LEVEL ?? "info" }, output), disableRequestLogging: true });
  app.addHook("onResponse", (request, reply, done) => {
    request.log.info({ method: request.method, path: request.url.split("?")[0], status: reply.statusCode, duration_ms: reply.elapsedTime }, "request completed");
    done();
  });
  return app;
}
