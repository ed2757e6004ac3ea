// The storage layer's operating errors, one catalogue. Each carries a stable
// `code` so the node and the operator can act on it without parsing messages.
// Programmer errors (appending out of order, truncating committed entries) are
// assertions instead: they mean the caller is wrong, not the disk.

export type StorageErrorCode =
  /** Bytes on disk are damaged where a crash cannot have torn them: stop, do not guess. */
  | 'STORAGE_CORRUPT'
  /** A write or fsync failed earlier: the storage refuses all further writes. */
  | 'STORAGE_FAILED'
  /** A streamed snapshot's data does not match the checksum its sender declared. */
  | 'SNAPSHOT_CHECKSUM_MISMATCH'
  /** The storage was closed. */
  | 'STORAGE_CLOSED';

export abstract class StorageError extends Error {
  abstract readonly code: StorageErrorCode;
}

/**
 * Damage the storage will not repair by itself. `file` and `offsetBytes` say
 * where; the fix is for an operator to inspect the file, or to wipe this
 * node's data directory and let it catch up from the leader.
 */
export class StorageCorruptionError extends StorageError {
  override name = 'StorageCorruptionError';
  readonly code = 'STORAGE_CORRUPT';
  constructor(
    readonly file: string,
    readonly offsetBytes: number,
    readonly reason: string,
  ) {
    super(`corrupt storage file ${file} at offset ${offsetBytes}: ${reason}; ` +
      'the node must not start on damaged data: inspect the file, or wipe this node\'s data directory so it catches up from the leader');
  }
}

/**
 * Raised by every write after a write, fsync, rename or directory sync
 * failed. Retrying an fsync after a failure can report success for pages the
 * kernel already dropped ("fsyncgate", PostgreSQL 2018), so there is no way
 * back short of closing and re-opening, which re-reads what really is on disk.
 */
export class StorageFailedError extends StorageError {
  override name = 'StorageFailedError';
  readonly code = 'STORAGE_FAILED';
  /** The operating-system error code of the original failure (EIO, ENOSPC, EFBIG, ...). */
  readonly causeCode: string;
  constructor(readonly operation: string, override readonly cause: unknown) {
    const causeCode = errorCodeOf(cause);
    super(`storage failed during ${operation} (${causeCode}): writes are stopped and nothing more is acknowledged; ` +
      'free space or replace the disk, then restart the node');
    this.causeCode = causeCode;
  }
}

export class SnapshotChecksumError extends StorageError {
  override name = 'SnapshotChecksumError';
  readonly code = 'SNAPSHOT_CHECKSUM_MISMATCH';
  constructor(readonly expectedCrc32c: number, readonly actualCrc32c: number, readonly dataBytes: number) {
    super(`received snapshot data (${dataBytes} bytes) has crc32c ${hex(actualCrc32c)} but the sender declared ${hex(expectedCrc32c)}; ` +
      'the snapshot was discarded: request it again');
  }
}

export class StorageClosedError extends StorageError {
  override name = 'StorageClosedError';
  readonly code = 'STORAGE_CLOSED';
  constructor() {
    super('storage is closed');
  }
}

export function errorCodeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return 'UNKNOWN';
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
