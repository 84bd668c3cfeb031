// Error types that carry what the user needs: a message in their words and the exit code.

/** An error meant for the user: printed as one `ERROR:` line, then the process exits with exitCode. */
export class WalgError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WalgError';
    this.exitCode = exitCode;
  }
}

/** Cobra-level usage errors (bad flag, wrong argument count): printed as `Error: ...` plus usage. */
export class UsageError extends Error {
  readonly commandPath: string;
  constructor(message: string, commandPath: string) {
    super(message);
    this.name = 'UsageError';
    this.commandPath = commandPath;
  }
}

/** Exit code WAL-G uses when wal-fetch finds no such WAL file (EX_IOERR). */
export const EXIT_WAL_NOT_FOUND = 74;

export function notImplemented(command: string): WalgError {
  return new WalgError(`${command}: not implemented yet`);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
