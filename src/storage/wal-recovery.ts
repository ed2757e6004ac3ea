// Recovery scanning: reads every segment at start-up, checks each record,
// cuts a torn tail off the last segment, and decides whether the log
// continues the snapshot (keeping it, minus segments a compaction left
// behind) or must be discarded (an interrupted install). What it returns is
// what the Wal starts from: the segments with their offsets, the term runs,
// the highest commit index recorded, and a report.
//
// Owns: the scan of segment files at start-up and the repairs recovery makes
// (tail cut, leftover segments removed, log discarded). Must not touch: the
// running log (the writer, reader and group commit start after it returns);
// it opens, reads and closes the files it scans and keeps no descriptor.

import path from 'node:path';
import { StorageCorruptionError } from './errors.js';
import type { FileIo } from './io.js';
import { fsyncDirSync, readAtSync } from './io.js';
import { RecordType, SEGMENT_HEADER_BYTES, decodeCommit, decodeSegmentHeader, entryPosition, frameRecord } from './record.js';
import type { RecordFrame } from './record.js';
import {
  SEGMENT_FIRST_INDEX_OFFSET_BYTES, SEGMENT_NAME, createSegmentFile, deleteSegmentsNewestFirst, emptySegment, maxRecordBodyBytes,
  pushOffset, recordEndOffset, segmentEndIndex, segmentFileName, segmentLastIndex,
} from './wal-segment.js';
import type { Segment, StorageLogEvent, WalLimits, WalRecoveryReport } from './wal-segment.js';
import { TermIndex } from './wal-term-index.js';

const SCAN_CHUNK_BYTES = 1 << 20;

/** What the Wal starts from after recovery. */
export interface RecoveredLog {
  /** At least one segment; the last is the one to append to. */
  readonly segments: Segment[];
  readonly terms: TermIndex;
  readonly commitIndex: number;
  readonly report: WalRecoveryReport;
}

interface SegmentScan {
  readonly segment: Segment;
  readonly runStarts: number[];
  readonly runTerms: number[];
  readonly commitIndex: number;
  readonly lastTerm: number;
  readonly tailCut: WalRecoveryReport['tailCut'];
}

type ScanInProgress = { segment: Segment; runStarts: number[]; runTerms: number[]; commitIndex: number; lastTerm: number };

/**
 * Recovers the segments in `dir` so that they continue the snapshot `base`
 * (index 0 before any snapshot): cuts a torn tail off the last segment,
 * throws StorageCorruptionError for damage anywhere else, removes segments
 * left over from a compaction, and starts an empty log after `base` when the
 * log does not continue it.
 */
export function recoverSegments(
  io: FileIo,
  dir: string,
  files: readonly string[],
  limits: WalLimits,
  base: { index: number; term: number },
  log: (event: StorageLogEvent) => void,
): RecoveredLog {
  const names = files.filter((name) => SEGMENT_NAME.test(name)).sort();
  const scans: SegmentScan[] = [];
  for (let i = 0; i < names.length; i++) {
    const scan = scanSegment(io, path.join(dir, names[i] as string), limits, i === names.length - 1);
    const previous = scans[scans.length - 1];
    if (previous !== undefined) checkContinues(previous, scan);
    scans.push(scan);
  }
  const tail = scans[scans.length - 1]?.tailCut;
  if (tail !== undefined) {
    log({ level: 'warn', message: 'cut a torn or corrupt tail off the last WAL segment; the entries after it are lost here and will be fetched from the leader', details: { ...tail } });
  }
  const discardReason = logDiscardReason(scans, base);
  let segments: Segment[];
  if (discardReason === undefined) {
    segments = removeCompactedSegments(io, dir, scans, base.index);
  } else {
    if (scans.length > 0) log({ level: 'warn', message: 'discarded the WAL: it does not continue the snapshot', details: { reason: discardReason, snapshotIndex: base.index } });
    deleteSegmentsNewestFirst(io, dir, scans.map((scan) => scan.segment));
    segments = [createSegmentFile(io, dir, base.index + 1)];
  }
  const commitIndex = Math.max(0, ...scans.map((scan) => scan.commitIndex));
  return {
    segments,
    terms: termRunsAfter(scans, segments, base.index),
    commitIndex: discardReason === undefined ? commitIndex : 0,
    report: { segmentCount: segments.length, tailCut: tail, logDiscardedReason: scans.length > 0 ? discardReason : undefined },
  };
}

/** The term runs of the entries after the snapshot at `baseIndex` (none when the log ends there). */
function termRunsAfter(scans: readonly SegmentScan[], segments: readonly Segment[], baseIndex: number): TermIndex {
  const terms = new TermIndex();
  for (const scan of scans) {
    for (let i = 0; i < scan.runStarts.length; i++) terms.note(scan.runStarts[i] as number, scan.runTerms[i] as number);
  }
  if (segmentLastIndex(segments[segments.length - 1] as Segment) <= baseIndex) {
    terms.clear();
    return terms;
  }
  terms.dropBelow(baseIndex + 1);
  return terms;
}

/**
 * Reads one segment record by record, in bounded chunks, checking every
 * checksum but decoding only index and term. A bad record in the last
 * segment ends the log there (cut and reported); anywhere else it is damage.
 */
function scanSegment(io: FileIo, file: string, limits: WalLimits, isLast: boolean): SegmentScan {
  const fd = io.openSync(file, isLast ? 'r+' : 'r');
  try {
    const fileBytes = io.fstatSizeSync(fd);
    const header = decodeSegmentHeader(readAtSync(io, fd, 0, SEGMENT_HEADER_BYTES));
    if ('invalid' in header) throw new StorageCorruptionError(file, 0, header.invalid);
    if (segmentFileName(header.firstIndex) !== path.basename(file)) {
      throw new StorageCorruptionError(file, SEGMENT_FIRST_INDEX_OFFSET_BYTES, `header first index ${header.firstIndex} does not match the file name`);
    }
    const segment = emptySegment(file, header.firstIndex);
    const scan: ScanInProgress = { segment, runStarts: [], runTerms: [], commitIndex: 0, lastTerm: 0 };
    const maxBody = maxRecordBodyBytes(limits);
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = SEGMENT_HEADER_BYTES;
    let offset = 0;
    let problem: string | undefined;
    while (problem === undefined) {
      const frame = frameRecord(chunk, offset, chunk.length, maxBody);
      const fileOffset = chunkStart + offset;
      if (frame.kind === 'incomplete') {
        if (fileOffset >= fileBytes) break;
        if (fileOffset + frame.neededBytes > fileBytes) {
          problem = 'record cut short by the end of the file';
          break;
        }
        chunkStart = fileOffset;
        chunk = readAtSync(io, fd, chunkStart, Math.min(fileBytes - chunkStart, Math.max(SCAN_CHUNK_BYTES, frame.neededBytes)));
        offset = 0;
        continue;
      }
      if (frame.kind === 'invalid') {
        problem = frame.reason;
        break;
      }
      // A record with a valid checksum cannot come from a torn write: if it
      // does not belong here, the log is damaged even in the last segment.
      const misfit = acceptRecord(scan, chunk, frame, fileOffset);
      if (misfit !== undefined) throw new StorageCorruptionError(file, fileOffset, misfit);
      offset = frame.nextOffset;
    }
    const tailCut = problem === undefined ? undefined : cutTail(io, fd, file, fileBytes, segment.sizeBytes, problem, isLast);
    return { ...scan, tailCut };
  } finally {
    io.closeSync(fd);
  }
}

/** Adds one valid record, found at `fileOffset`, to the scan; returns why it does not belong, if it does not. */
function acceptRecord(scan: ScanInProgress, chunk: Buffer, frame: RecordFrame, fileOffset: number): string | undefined {
  const segment = scan.segment;
  if (frame.type === RecordType.commit) {
    const commit = decodeCommit(chunk, frame);
    if (commit < 0) return 'commit index out of range';
    scan.commitIndex = Math.max(scan.commitIndex, commit);
  } else {
    const { index, term } = entryPosition(chunk, frame);
    const expected = segmentEndIndex(segment);
    if (index !== expected) return `entry index ${index} where ${expected} was expected`;
    if (term < scan.lastTerm || term < 0) return `entry ${index} has term ${term} below the previous term ${scan.lastTerm}`;
    if (term !== scan.lastTerm || scan.runStarts.length === 0) {
      scan.runStarts.push(index);
      scan.runTerms.push(term);
    }
    scan.lastTerm = term;
    pushOffset(segment, fileOffset);
  }
  segment.sizeBytes = recordEndOffset(fileOffset, frame);
  return undefined;
}

function cutTail(
  io: FileIo, fd: number, file: string, fileBytes: number, validBytes: number, reason: string, isLast: boolean,
): WalRecoveryReport['tailCut'] {
  if (!isLast) throw new StorageCorruptionError(file, validBytes, reason);
  io.ftruncateSync(fd, validBytes);
  io.fsyncSync(fd);
  return { file, offsetBytes: validBytes, droppedBytes: fileBytes - validBytes, reason };
}

function checkContinues(previous: SegmentScan, next: SegmentScan): void {
  const expected = segmentEndIndex(previous.segment);
  if (next.segment.firstIndex !== expected) {
    throw new StorageCorruptionError(next.segment.file, SEGMENT_FIRST_INDEX_OFFSET_BYTES, `segment starts at entry ${next.segment.firstIndex} but the previous one ends before ${expected}`);
  }
  const firstTerm = next.runTerms[0];
  if (firstTerm !== undefined && firstTerm < previous.lastTerm) {
    throw new StorageCorruptionError(next.segment.file, SEGMENT_HEADER_BYTES, `first term ${firstTerm} is below the previous segment's last term ${previous.lastTerm}`);
  }
}

/** Why the recovered log cannot follow the snapshot, or undefined when it can. */
function logDiscardReason(scans: readonly SegmentScan[], base: { index: number; term: number }): string | undefined {
  const first = scans[0];
  const last = scans[scans.length - 1];
  if (first === undefined || last === undefined) return 'no segments';
  const lastIndex = segmentLastIndex(last.segment);
  if (first.segment.firstIndex > base.index + 1) {
    // Compaction only removes segments wholly below the snapshot and an
    // install empties the log before it starts a new one: a gap is damage.
    throw new StorageCorruptionError(first.segment.file, SEGMENT_FIRST_INDEX_OFFSET_BYTES, `log starts at entry ${first.segment.firstIndex}, after the snapshot at ${base.index} plus one`);
  }
  if (lastIndex < base.index) return `log ends at ${lastIndex}, before the snapshot at ${base.index}`;
  // A log that starts right after the snapshot continues it (after an install).
  if (first.segment.firstIndex === base.index + 1) return undefined;
  const termAtBase = termInScans(scans, base.index);
  if (termAtBase !== base.term) return `log has term ${termAtBase} at the snapshot index ${base.index}, the snapshot has term ${base.term}`;
  return undefined;
}

function termInScans(scans: readonly SegmentScan[], index: number): number | undefined {
  let term: number | undefined;
  for (const scan of scans) {
    for (let i = 0; i < scan.runStarts.length && (scan.runStarts[i] as number) <= index; i++) term = scan.runTerms[i];
  }
  return term;
}

/** Deletes segments left from a compaction whose entries all precede the snapshot. */
function removeCompactedSegments(io: FileIo, dir: string, scans: readonly SegmentScan[], baseIndex: number): Segment[] {
  const segments = scans.map((scan) => scan.segment);
  let drop = 0;
  while (drop + 1 < segments.length && (segments[drop + 1] as Segment).firstIndex <= baseIndex + 1) drop++;
  if (drop > 0) {
    for (const segment of segments.slice(0, drop)) io.unlinkSync(segment.file);
    fsyncDirSync(io, dir);
  }
  return segments.slice(drop);
}
