/**
 * Text neither database can store as sent: PostgreSQL refuses U+0000 in text columns and lone
 * surrogates in jsonb, and SQLite would keep what PostgreSQL refuses. The API refuses such text
 * (src/http/validation.ts); what comes from a party that cannot be refused is made storable.
 *
 * Without the `u` flag a regular expression sees UTF-16 code units, which is what is checked: a
 * high surrogate not followed by a low one, or a low one not preceded by a high one.
 */
const NUL = /\u0000/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE = new RegExp(`${NUL.source}|${LONE_SURROGATE.source}`, "g");

/**
 * Text from a party whose requests we cannot refuse (Meta repeats a callback we answer with an
 * error, for days, and the Cloud API's own errors are what we record of a send), made storable:
 * each NUL and each lone surrogate becomes U+FFFD.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, "\uFFFD");
}

/** What makes `text` unstorable, in words, or null if PostgreSQL can store it as it is. */
export function textFault(text: string): string | null {
  if (NUL.test(text)) return "U+0000 (NUL)";
  if (LONE_SURROGATE.test(text)) return "a lone UTF-16 surrogate (not well-formed Unicode)";
  return null;
}
