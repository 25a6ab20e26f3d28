/**
 * A mistake in the command line: printed on stderr with the command's usage (when known) and a
 * pointer to --help, exit code 2.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}
