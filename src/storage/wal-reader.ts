// Reading the log back: a byte-bounded cache of the newest entries, a small
// cache of read-only file descriptors for older segments, and the read of a
// run of entries out of one segment, which checks every record again.
//
// Owns: the entry cache and the read-only descriptors. Must not touch: the
// segment list or the active segment's descriptor (the writer's; it is lent
// through SegmentLookup), term runs, group commit; it never writes a file.
// The writer tells it, through closeFile, when a segment's file goes away or
// becomes the active one.

import type { Entry } from '../raft/types.js';
import { entrySizeBytes } from '../raft/storage.js';
import { StorageCorruptionError } from './errors.js';
import type { FileIo } from './io.js';
import { readAtSync } from './io.js';
import { RecordType, decodeEntryRecord, frameRecord } from './record.js';
import { entryRecordOffset, entryRecordOffsetOrEnd, maxRecordBodyBytes, segmentEndIndex } from './wal-segment.js';
import type { Segment, WalLimits } from './wal-segment.js';

const READ_CHUNK_BYTES = 1 << 20;
const MAX_OPEN_READ_FILES = 8;
/** Cache slots freed at the front before the array is compacted. */
const CACHE_COMPACT_AFTER_SLOTS = 1024;

/** What the reader needs to know of the writer's segments. */
export interface SegmentLookup {
  /** The segment that holds entry `index` (asserts there is one). */
  segmentHolding(index: number): Segment;
  activeSegment(): Segment;
  /** The active segment's descriptor, open for reading and writing. */
  activeFd(): number;
}

export class WalReader {
  private readonly cache: EntryCache;
  private readonly files: ReadFileCache;

  constructor(
    private readonly io: FileIo,
    private readonly limits: WalLimits,
    private readonly segments: SegmentLookup,
  ) {
    this.cache = new EntryCache(limits.cacheMaxBytes);
    this.files = new ReadFileCache(io);
  }

  /** Entries in [lo, hi) within maxBytes (at least one), from the cache or read back from disk; the caller checks the bounds. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const result: Entry[] = [];
    let totalBytes = 0;
    let index = lo;
    while (index < hi) {
      const batch = this.cache.get(index) !== undefined ? this.cache.run(index, hi) : this.readFromDisk(index, Math.min(hi, this.cache.firstIndex() ?? hi));
      for (const entry of batch) {
        totalBytes += entrySizeBytes(entry);
        if (totalBytes > maxBytes && result.length > 0) return result;
        result.push(entry);
      }
      index += batch.length;
    }
    return result;
  }

  /** An entry just written: the newest in the log. */
  remember(entry: Entry): void {
    this.cache.push(entry);
  }

  /** Forgets cached entries below `index` (a snapshot covers them). */
  forgetBelow(index: number): void {
    this.cache.evictBelow(index);
  }

  /** Forgets cached entries from `index` on (a conflicting suffix was cut; the log now ends at index - 1). */
  forgetFrom(index: number): void {
    this.cache.truncateFrom(index);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  /** Closes the read-only descriptor of `file`, if one is open. */
  closeFile(file: string): void {
    this.files.close(file);
  }

  close(): void {
    this.files.closeAll();
  }

  /** Reads entries from `index` on (below `limit`) out of one segment, checking every record again. */
  private readFromDisk(index: number, limit: number): Entry[] {
    const segment = this.segments.segmentHolding(index);
    const start = entryRecordOffset(segment, index);
    let endIndex = Math.min(limit, segmentEndIndex(segment));
    // Read at most about one chunk, but always the whole first record.
    while (endIndex > index + 1 && entryRecordOffsetOrEnd(segment, endIndex) - start > READ_CHUNK_BYTES) {
      endIndex = index + Math.max(1, Math.floor((endIndex - index) / 2));
    }
    const end = entryRecordOffsetOrEnd(segment, endIndex);
    const fd = segment === this.segments.activeSegment() ? this.segments.activeFd() : this.files.fd(segment.file);
    const bytes = readAtSync(this.io, fd, start, end - start);
    const result: Entry[] = [];
    let offset = 0;
    while (result.length < endIndex - index) {
      const recordOffset = start + offset;
      const frame = frameRecord(bytes, offset, bytes.length, maxRecordBodyBytes(this.limits));
      if (frame.kind !== 'record') {
        throw new StorageCorruptionError(segment.file, recordOffset, `read back: ${frame.kind === 'invalid' ? frame.reason : 'record cut short'}`);
      }
      offset = frame.nextOffset;
      if (frame.type !== RecordType.entry) continue;
      const entry = decodeEntryRecord(bytes, frame);
      const expected = index + result.length;
      if ('invalid' in entry || entry.index !== expected) {
        throw new StorageCorruptionError(segment.file, recordOffset, `read back: expected entry ${expected}`);
      }
      result.push(entry);
    }
    return result;
  }
}

/**
 * The newest entries, within a byte budget. The cached entries are always a
 * contiguous run that ends at the log's last index (or none): writes append
 * to it, a cut takes its tail, compaction and the budget take its head.
 */
class EntryCache {
  private entries: Entry[] = [];
  /** Slots before head are evicted (set to undefined) and wait for compaction. */
  private head = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The first cached index, or undefined when nothing is cached. */
  firstIndex(): number | undefined {
    return this.entries[this.head]?.index;
  }

  get(index: number): Entry | undefined {
    const first = this.firstIndex();
    if (first === undefined || index < first) return undefined;
    return this.entries[this.head + index - first];
  }

  /** The cached entries in [lo, hi); lo must be cached. */
  run(lo: number, hi: number): Entry[] {
    const from = this.head + lo - (this.firstIndex() as number);
    return this.entries.slice(from, from + hi - lo);
  }

  push(entry: Entry): void {
    this.entries.push(entry);
    this.bytes += entrySizeBytes(entry);
    while (this.bytes > this.maxBytes && this.head < this.entries.length) this.shift();
  }

  evictBelow(index: number): void {
    while (this.head < this.entries.length && (this.firstIndex() as number) < index) this.shift();
  }

  /** Drops entries from `index` on; what stays must end at index - 1, or the cache empties. */
  truncateFrom(index: number): void {
    while (this.entries.length > this.head && (this.entries[this.entries.length - 1] as Entry).index >= index) {
      this.bytes -= entrySizeBytes(this.entries.pop() as Entry);
    }
    if (this.entries.length > this.head && (this.entries[this.entries.length - 1] as Entry).index !== index - 1) this.clear();
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  private shift(): void {
    this.bytes -= entrySizeBytes(this.entries[this.head] as Entry);
    this.entries[this.head] = undefined as unknown as Entry;
    this.head++;
    if (this.head > CACHE_COMPACT_AFTER_SLOTS && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}

/** Read-only descriptors of older segments, at most MAX_OPEN_READ_FILES, the least recently used closed first. */
class ReadFileCache {
  private readonly fds = new Map<string, number>();

  constructor(private readonly io: FileIo) {}

  fd(file: string): number {
    const existing = this.fds.get(file);
    if (existing !== undefined) {
      this.fds.delete(file);
      this.fds.set(file, existing);
      return existing;
    }
    if (this.fds.size >= MAX_OPEN_READ_FILES) {
      const oldest = this.fds.keys().next().value as string;
      this.close(oldest);
    }
    const fd = this.io.openSync(file, 'r');
    this.fds.set(file, fd);
    return fd;
  }

  close(file: string): void {
    const fd = this.fds.get(file);
    if (fd === undefined) return;
    this.fds.delete(file);
    this.io.closeSync(fd);
  }

  closeAll(): void {
    for (const file of [...this.fds.keys()]) this.close(file);
  }
}
