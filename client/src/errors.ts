// What a call can fail with: the server's answer (LedgerApiError, with the
// contract's error code) or running out of time (DeadlineExceededError, with
// the last failure seen: for a write, its outcome is unknown until retried
// with the same ids).

export class LedgerApiError extends Error {
  override name = 'LedgerApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>>,
    readonly url: string,
  ) {
    super(`${status} ${code}: ${message} (${url})`);
  }
}

export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  constructor(readonly operation: string, readonly attempts: number, readonly lastError: unknown) {
    super(`${operation}: no answer within the deadline after ${attempts} attempts; last: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  }
}
