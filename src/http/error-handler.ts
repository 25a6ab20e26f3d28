import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { App } from "./app-types.js";
import { isConnectionLoss } from "../db/connection-loss.js";
import { AppError, validationFailed, type FieldProblem } from "../errors/app-error.js";

type AjvIssue = {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
};

/** The one place an error becomes a response: the envelope of docs/api.md ("Errors"), nothing more. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  reply.header("x-request-id", request.id);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  if (error.status === 401) reply.header("www-authenticate", 'Bearer realm="whatisup"');
  const body: { error: { code: string; message: string; details?: unknown }; request_id: string } = {
    error: { code: error.code, message: error.message },
    request_id: request.id,
  };
  if (error.details !== undefined) body.error.details = error.details;
  return reply.code(error.status).type("application/json; charset=utf-8").send(body);
}

export function installErrorHandler(app: App): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) request.log.error({ err: error }, "request failed");
    return sendError(request, reply, appError);
  });
}

/**
 * Errors Fastify raises while routing, before any hook runs: a URL that cannot be decoded, or a
 * path parameter beyond the router's limit. Both are answered in the envelope like any other.
 * The `/v1` hook that sets `Cache-Control: no-store` never runs for them, so it is set here, on
 * every such answer: which context a path that cannot be routed belongs to is not known, and an
 * error is not worth caching anyway.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header("cache-control", "no-store");
  const field = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? "params" : "url";
  sendError(request, reply, validationFailed([{ field, message: "is not a valid path" }]));
}

function toAppError(error: FastifyError): AppError {
  if (error instanceof AppError) return error;
  if (error.validation) {
    const location = error.validationContext ?? "body";
    return validationFailed(firstProblemPerField(error.validation.map((issue) => describeIssue(location, issue as AjvIssue))));
  }
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new AppError("unsupported_media_type", "Send the body as application/json.");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new AppError("payload_too_large", "The body is larger than the limit of 64 KiB.");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return validationFailed([{ field: "body", message: "is empty; send a JSON object" }]);
  }
  if (isConnectionLoss(error)) {
    return new AppError("database_unavailable", "The database cannot be reached. Try again shortly.", undefined, { "retry-after": "1" });
  }
  if (error.statusCode === 400) {
    return validationFailed([{ field: "body", message: "is not valid JSON" }]);
  }
  return new AppError("internal_error", "Something went wrong on our side. Quote the request id if you contact us.");
}

/** A value failing a union reports once per branch; the first branch's reason is the useful one. */
function firstProblemPerField(problems: FieldProblem[]): FieldProblem[] {
  const byField = new Map<string, FieldProblem>();
  for (const problem of problems) if (!byField.has(problem.field)) byField.set(problem.field, problem);
  return [...byField.values()];
}

function describeIssue(location: string, issue: AjvIssue): FieldProblem {
  const path = issue.instancePath.split("/").filter(Boolean);
  if (issue.keyword === "required") path.push(String(issue.params.missingProperty));
  if (issue.keyword === "additionalProperties") {
    path.push(String(issue.params.additionalProperty));
    return { field: [location, ...path].join("."), message: "is not a known field" };
  }
  const problem: FieldProblem = { field: [location, ...path].join("."), message: issue.message ?? "is not valid" };
  if (issue.keyword === "enum") problem.allowed = issue.params.allowedValues as unknown[];
  if (issue.keyword === "format" && issue.params.format === "date-time") {
    problem.message = "must be an ISO 8601 date-time with a time zone, e.g. 2027-01-31T12:00:00Z";
  }
  return problem;
}
