import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";
import { textFault } from "../format/storable-text.js";

function createAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, removeAdditional: false, useDefaults: false, ...options });
  addFormats.default(ajv);
  return ajv;
}

// Bodies are validated as sent: no coercion, no silently dropped fields. Query strings and path
// parameters arrive as text, so those are coerced to the types their schemas declare.
const bodyAjv = createAjv({ coerceTypes: false });
const textAjv = createAjv({ coerceTypes: true });

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === "body" ? bodyAjv : textAjv;
  return refusingUnstorableText(ajv.compile(schema as object));
};

/**
 * Every part a route validates (params, body, query) is first searched for text neither database
 * can store as sent: PostgreSQL refuses U+0000 in text columns and lone surrogates in jsonb, and
 * SQLite would keep what PostgreSQL refuses. Checked here, the rule holds for every field of every
 * route, on both databases, before any schema or handler sees the value.
 */
function refusingUnstorableText(validate: ValidateFunction): ValidateFunction {
  const check = ((data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    const issue = firstUnstorableText(data);
    if (issue) {
      check.errors = [issue];
      return false;
    }
    const valid = validate(data, context);
    check.errors = validate.errors;
    return valid;
  }) as ValidateFunction;
  // Fastify hands Ajv the value's parent (so that Ajv may coerce it in place) only when it finds this.
  check.schemaEnv = validate.schemaEnv;
  return check;
}

/** Where a value sits, as a chain to its parent: a deep body costs no copied paths. */
type Place = { parent: Place | null; segment: string } | null;
type Pending = { value: unknown; place: Place } | { key: string; place: Place };

/**
 * The first string or object key, in document order, that holds a fault. A key is reported on
 * the object that holds it, so the answer does not echo the offending text. The walk keeps its
 * own stack: a 64 KiB body can nest deeper than the call stack allows.
 */
function firstUnstorableText(root: unknown): ErrorObject | null {
  const pending: Pending[] = [{ value: root, place: null }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if ("key" in next) {
      const fault = textFault(next.key);
      if (fault) return textIssue(next.place, `has a field name that contains ${fault}`);
      continue;
    }
    const { value, place } = next;
    if (typeof value === "string") {
      const fault = textFault(value);
      if (fault) return textIssue(place, `must not contain ${fault}`);
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index -= 1) {
        pending.push({ value: value[index], place: { parent: place, segment: String(index) } });
      }
    } else if (typeof value === "object" && value !== null) {
      const entries = Object.entries(value);
      for (let index = entries.length - 1; index >= 0; index -= 1) {
        const [key, child] = entries[index]!;
        pending.push({ value: child, place: { parent: place, segment: key } }, { key, place });
      }
    }
  }
  return null;
}

/** In Ajv's shape (a JSON Pointer path), so that the error handler names the field as for any other. */
function textIssue(place: Place, message: string): ErrorObject {
  const segments: string[] = [];
  for (let at = place; at !== null; at = at.parent) segments.unshift(at.segment);
  const instancePath = segments.map((segment) => `/${segment.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
  return { keyword: "text", instancePath, schemaPath: "", message, params: {} };
}
