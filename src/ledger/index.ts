// The ledger's public surface: schemas for the HTTP layer, the entry codec for
// the node, the state machine, its query views and the JSON renderer.

export * from './schemas.js';
export { encodeEntry, encodeCommand, encodeEntryWithCommand, decodeEntry, MAX_ENTRY_TIME_MS, type LedgerEntry, type DecodedEntry } from './entry.js';
export { resultCodes, type ResultCode } from './codes.js';
export type { CreateResult, ItemResult, ReservationResult, ConfirmResult, ReleaseResult } from './context.js';
export { LedgerStateMachine, SnapshotRefusedError, type ApplyOutcome, type CommandResult, type LedgerLogEntry, type StagedSnapshotWriter } from './state-machine.js';
export { RESTORE_CHUNK_BYTES, snapshotBytesSource, type SnapshotImageSource } from './snapshot.js';
export type { ExpireResult } from './expiry.js';
export type { VerifyReport } from './verify.js';
export { MAX_TRANSFERS_PAGE, type AccountView, type TransferView, type ItemView, type ReservationView, type LedgerQueries } from './queries.js';
export { jsonText, renderAmount } from './render.js';
export { EVENT_PAGE_ROWS, type EventPage, type EventPosition, type LedgerEvent, type PositionedEvent } from './events.js';
