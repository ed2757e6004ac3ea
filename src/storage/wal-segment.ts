// What every part of the WAL shares: the limits, the in-memory record of one
// segment file (where each of its entries lies), the named helpers that turn
// an entry index into a byte offset, and the two durable file operations on
// whole segments (create, delete newest first). The byte formats are in
// record.ts.
//
// Owns: the Segment shape and its offset arithmetic, segment file names.
// Must not touch: open file descriptors, the entry cache, term runs, the
// group-commit state; nothing here keeps state of its own.

import path from 'node:path';
import { assert } from '../lib/assert.js';
import type { FileIo } from './io.js';
import { TEMPORARY_SUFFIX, fsyncDirSync, writeAllSync } from './io.js';
import { ENTRY_RECORD_OVERHEAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeSegmentHeader } from './record.js';
import type { RecordFrame } from './record.js';

export interface StorageLogEvent {
  readonly level: 'info' | 'warn';
  readonly message: string;
  readonly details: Readonly<Record<string, string | number>>;
}

export interface WalLimits {
  /** A segment rolls over once the next entry would take it past this size. */
  readonly segmentSizeBytes: number;
  /** The largest entry data accepted; bounds every record and read buffer. */
  readonly maxEntryBytes: number;
  /** Recent entries kept in memory; older ones are read back from disk. */
  readonly cacheMaxBytes: number;
}

/** What recovery found and repaired, for the node to log and act on. */
export interface WalRecoveryReport {
  readonly segmentCount: number;
  /** Set when a torn or corrupt tail was cut off the last segment. */
  readonly tailCut: { readonly file: string; readonly offsetBytes: number; readonly droppedBytes: number; readonly reason: string } | undefined;
  /** Set when the log did not continue the snapshot (an interrupted install) and was discarded. */
  readonly logDiscardedReason: string | undefined;
}

export interface Segment {
  readonly file: string;
  readonly firstIndex: number;
  /** offsets[i] is the byte offset of the record of entry firstIndex + i. */
  offsets: Uint32Array;
  count: number;
  /** End of the last valid record: where the next record goes. */
  sizeBytes: number;
}

export const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
/** Where a segment header says its first index lies, for corruption reports. */
export const SEGMENT_FIRST_INDEX_OFFSET_BYTES = 16;
const INITIAL_OFFSET_SLOTS = 1024;

export function segmentFileName(firstIndex: number): string {
  return `${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export function maxRecordBodyBytes(limits: WalLimits): number {
  return ENTRY_RECORD_OVERHEAD_BYTES - RECORD_HEADER_BYTES + limits.maxEntryBytes;
}

/** A segment record with no entries yet: only its header is on disk. */
export function emptySegment(file: string, firstIndex: number): Segment {
  return { file, firstIndex, offsets: new Uint32Array(INITIAL_OFFSET_SLOTS), count: 0, sizeBytes: SEGMENT_HEADER_BYTES };
}

/** The index just after the segment's last entry: where its next entry goes. */
export function segmentEndIndex(segment: Segment): number {
  return segment.firstIndex + segment.count;
}

/** The segment's last index (firstIndex - 1 while it is empty). */
export function segmentLastIndex(segment: Segment): number {
  return segmentEndIndex(segment) - 1;
}

export function segmentHoldsEntry(segment: Segment, index: number): boolean {
  return index >= segment.firstIndex && index < segmentEndIndex(segment);
}

/** Byte offset of the record of entry `index`, which the segment holds. */
export function entryRecordOffset(segment: Segment, index: number): number {
  return segment.offsets[index - segment.firstIndex] as number;
}

/** Where the record of entry `index` starts, or for the index after the last entry, where the segment's records end. */
export function entryRecordOffsetOrEnd(segment: Segment, index: number): number {
  return index < segmentEndIndex(segment) ? entryRecordOffset(segment, index) : segment.sizeBytes;
}

/** The byte offset just after a framed record that starts at `recordOffset` in the file. */
export function recordEndOffset(recordOffset: number, frame: RecordFrame): number {
  return recordOffset + RECORD_HEADER_BYTES + frame.bodyLength;
}

/** Records that the next entry's record starts at `offset`. */
export function pushOffset(segment: Segment, offset: number): void {
  if (segment.count === segment.offsets.length) {
    const grown = new Uint32Array(segment.offsets.length * 2);
    grown.set(segment.offsets);
    segment.offsets = grown;
  }
  segment.offsets[segment.count] = offset;
  segment.count++;
}

/** Forgets the entries from `index` on; the segment must hold `index`. */
export function cutSegmentAt(segment: Segment, index: number): void {
  assert(segmentHoldsEntry(segment, index), `segment ${segment.file} does not hold entry ${index}`);
  segment.sizeBytes = entryRecordOffset(segment, index);
  segment.count = index - segment.firstIndex;
}

/** Creates an empty segment whose header is durable before the file has its final name. */
export function createSegmentFile(io: FileIo, dir: string, firstIndex: number): Segment {
  const file = path.join(dir, segmentFileName(firstIndex));
  const temporary = `${file}${TEMPORARY_SUFFIX}`;
  const fd = io.openSync(temporary, 'w');
  try {
    writeAllSync(io, fd, encodeSegmentHeader(firstIndex), 0);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(temporary, file);
  fsyncDirSync(io, dir);
  return emptySegment(file, firstIndex);
}

/** Newest first, so that a crash part-way leaves a log that is still a contiguous prefix. */
export function deleteSegmentsNewestFirst(io: FileIo, dir: string, segments: readonly Segment[]): void {
  for (let i = segments.length - 1; i >= 0; i--) io.unlinkSync((segments[i] as Segment).file);
  fsyncDirSync(io, dir);
}
