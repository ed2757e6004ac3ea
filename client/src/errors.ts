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

/**
 * GET /v1/events answered 410: the events from the asked position were
 * compacted away and cannot be delivered; `oldestIndex` (when the node said)
 * is the first index still available. The caller must rebuild its state
 * from a read (for example getAccounts) and follow on from there.
 */
export class EventsCompactedError extends LedgerApiError {
  override name = 'EventsCompactedError';
  readonly oldestIndex: number | undefined;
  constructor(status: number, code: string, message: string, details: Readonly<Record<string, unknown>>, url: string) {
    super(status, code, message, details, url);
    const oldest = details['oldest_index'];
    this.oldestIndex = typeof oldest === 'number' ? oldest : undefined;
  }
}

export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  constructor(readonly operation: string, readonly attempts: number, readonly lastError: unknown) {
    super(`${operation}: no answer within the deadline after ${attempts} attempts; last: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  }
}
