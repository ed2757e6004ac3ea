// SnapshotInbox: the snapshots this node receives from leaders, from the
// first chunk until the core accepts one (or forgets them). A received image
// goes to disk once: straight into the ledger's staging, as a file that
// itself becomes the database when installed; the Raft storage then records
// only the snapshot's metadata and the image's descriptor (a detached
// snapshot). Owns the names of staged images, the transport checksum, the
// limit on how many wait, and the start-up step that finishes an install a
// crash interrupted. docs/storage.md ("A leader's snapshot, received").

import { assert } from '../lib/assert.js';
import { SnapshotRefusedError, type LedgerStateMachine } from '../ledger/index.js';
import type { SnapshotMeta } from '../raft/types.js';
import { crc32c } from '../storage/crc32c.js';
import { SnapshotChecksumError } from '../storage/errors.js';
import type { DriverStorage } from './driver-io.js';
import type { SnapshotSink } from './transport.js';

/**
 * Received snapshots kept until the core accepts one (as many as the receiver
 * takes streams at once, maxSnapshotStreams): a later stream never removes an
 * earlier one, which the core may already have accepted.
 */
export const MAX_STAGED_SNAPSHOTS = 8;

/** A received snapshot, checked and durable, waiting for the core. */
export interface StagedSnapshot {
  readonly meta: SnapshotMeta;
  /** Its name in the ledger's staging. */
  readonly name: string;
  /** The ledger's descriptor of the image (its snapshot header), recorded with the Raft snapshot. */
  readonly descriptor: Uint8Array;
}

export interface SnapshotInboxDependencies {
  readonly ledger: () => LedgerStateMachine;
  readonly storage: Pick<DriverStorage, 'snapshotMeta' | 'snapshotIsDetached' | 'openSnapshotReader' | 'installSnapshot'>;
}

export class SnapshotInbox {
  /** Finished ones by name, oldest first. */
  private readonly staged = new Map<string, StagedSnapshot>();
  private sequence = 0;

  constructor(private readonly deps: SnapshotInboxDependencies) {}

  /**
   * Where a leader's snapshot streams to. `commit` checks the sender's CRC32C
   * (SnapshotChecksumError), then the ledger checks the image itself
   * (SnapshotRefusedError) and makes it durable. At most MAX_STAGED_SNAPSHOTS
   * wait; beyond that a new stream is refused rather than an older one
   * dropped (it could be the one the core just accepted).
   */
  receive(meta: SnapshotMeta): SnapshotSink {
    this.discardCovered();
    if (this.staged.size >= MAX_STAGED_SNAPSHOTS) {
      throw new Error(`${this.staged.size} received snapshots await installation, the most kept (MAX_STAGED_SNAPSHOTS); try again later`);
    }
    const name = `${meta.index}-${meta.term}-${++this.sequence}`;
    const writer = this.deps.ledger().stageSnapshot(name);
    let crc = 0;
    let bytes = 0;
    return {
      write: (chunk) => {
        crc = crc32c(chunk, crc);
        bytes += chunk.byteLength;
        writer.write(chunk);
      },
      commit: (expectedDataCrc32c) => {
        if (expectedDataCrc32c !== crc) throw new SnapshotChecksumError(expectedDataCrc32c, crc, bytes);
        const { descriptor, appliedIndex } = writer.finish();
        if (appliedIndex !== meta.index) {
          this.deps.ledger().discardStagedSnapshot(name);
          throw new SnapshotRefusedError(`snapshot refused: its ledger state is at index ${appliedIndex}, not at the snapshot's index ${meta.index}`);
        }
        this.staged.set(name, { meta, name, descriptor });
      },
      abort: () => writer.abort(),
    };
  }

  /**
   * Installs the snapshot the core accepted, from a staged image with its
   * index and term (any one: the state machine is deterministic). The Raft
   * storage records it first, detached, and discards the log; then the ledger
   * renames the staged image into place. A crash between the two leaves the
   * ledger behind a detached snapshot with the staged image still there, and
   * start-up finishes the install (recover); a crash before the first leaves
   * the old state and log, and the staged image is discarded.
   */
  install(meta: SnapshotMeta): void {
    const staged = [...this.staged.values()].find((s) => s.meta.index === meta.index && s.meta.term === meta.term);
    assert(staged !== undefined, `snapshot ${meta.index} (term ${meta.term}) was not received`);
    this.staged.delete(staged.name);
    this.deps.storage.installSnapshot(meta, staged.descriptor);
    this.deps.ledger().installStagedSnapshot(staged.name, staged.descriptor);
    this.discardCovered();
  }

  /** Removes staged snapshots the stored snapshot covers: the core can no longer want them. */
  discardCovered(): void {
    const covered = this.deps.storage.snapshotMeta().index;
    for (const staged of [...this.staged.values()]) {
      if (staged.meta.index > covered) continue;
      this.staged.delete(staged.name);
      this.deps.ledger().discardStagedSnapshot(staged.name);
    }
  }

  /**
   * At start-up: finishes the install of a detached snapshot that a crash
   * interrupted (the Raft storage recorded it, the ledger had not taken the
   * image yet) from an image staged for it, then discards every staged image
   * (the core has forgotten what it accepted). Returns whether it installed
   * one. Throws, saying what to do, if no staged image matches.
   */
  recover(): boolean {
    const ledger = this.deps.ledger();
    const { storage } = this.deps;
    const meta = storage.snapshotMeta();
    const pending = ledger.appliedIndex() < meta.index && storage.snapshotIsDetached();
    if (pending) this.installPending(ledger, meta, readDescriptor(storage.openSnapshotReader(meta.index)));
    for (const name of ledger.stagedSnapshots()) ledger.discardStagedSnapshot(name);
    return pending;
  }

  private installPending(ledger: LedgerStateMachine, meta: SnapshotMeta, descriptor: Uint8Array): void {
    const problems: string[] = [];
    for (const name of ledger.stagedSnapshots().filter((candidate) => candidate.startsWith(`${meta.index}-${meta.term}-`))) {
      try {
        ledger.installStagedSnapshot(name, descriptor);
        return;
      } catch (error) {
        if (!(error instanceof SnapshotRefusedError)) throw error;
        problems.push(error.message);
      }
    }
    throw new Error(
      `the stored snapshot at ${meta.index} (term ${meta.term}) was received but its image never reached the ledger, ` +
      `and no staged image for it is intact (${problems.join('; ') || 'none found'}): ` +
      'remove this node\'s data directory and start it again; it catches up from the leader',
    );
  }
}

function readDescriptor(reader: ReturnType<DriverStorage['openSnapshotReader']>): Uint8Array {
  try {
    return reader.read(0, reader.dataBytes);
  } finally {
    reader.close();
  }
}
