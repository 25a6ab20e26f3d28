// The Fastify app the comparison servers (the floor, better-auth's) start from, with our server's
// logger settings: pino at LOG_LEVEL, its lines gathered by our own BatchedLogOutput
// (src/http/log-output.ts, compiled) and written to standard output by the 4 KiB and at least
// every 100 ms, one line per answered request. better-auth's setup copies this file and the
// compiled log-output.js beside its server, where "fastify" and "pino" are its temporary
// folder's own; each server passes the class in, from where it finds it.
import Fastify, { LogController } from "fastify";
import { destination, pino } from "pino";

export function loggedFastify(BatchedLogOutput) {
  const output = new BatchedLogOutput(destination({ dest: 1, sync: true }), 4096, 100);
  // Fastify's own request lines off: the hook below writes the one line of an answered request.
  const app = Fastify({ loggerInstance: pino({ level: process.env.LOG_LEVEL ?? "info" }, output), logController: new LogController({ disableRequestLogging: true }) });
  app.addHook("onResponse", (request, reply, done) => {
    request.log.info({ method: request.method, path: request.url.split("?")[0], status: reply.statusCode, duration_ms: reply.elapsedTime }, "request completed");
    done();
  });
  return app;
}
