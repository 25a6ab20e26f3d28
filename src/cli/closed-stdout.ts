/**
 * `whatisup keys list | head -1`: once the reader of stdout has gone, whatever is left to print
 * has nobody to read it, so the command ends quietly with exit 0 instead of dying of EPIPE with a
 * stack trace. A command that must tidy up before it ends (webhooks listen --register deletes the
 * endpoint it created) hands over its stop instead, which ends it.
 */
let stopCommand: (() => void) | null = null;

export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") {
      process.stderr.write(`whatisup: cannot write to stdout: ${error.code ?? error.message}\n`);
      process.exit(1);
    }
    if (stopCommand) stopCommand();
    else process.exit(0);
  });
}

/** Makes a closed stdout call `stop`, which must end the command, rather than exit at once. */
export function stopWhenStdoutCloses(stop: () => void): void {
  stopCommand = stop;
}
