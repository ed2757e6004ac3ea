// @raft-ledger/client: a typed client for the raft-ledger HTTP API (docs/client.md).
export { LedgerClient, type ClientOptions } from './client.js';
export { DeadlineExceededError, EventsCompactedError, LedgerApiError } from './errors.js';
export type * from './types.js';
