// The bounds every peer message must meet before it reaches the Raft core.
// The codec (peer-codec.ts) guarantees a well-formed frame; this module
// guarantees a sane message: numbers far enough below 2^53 that the core's
// +1 arithmetic and the encoders of the WAL, the hard state and the wire can
// never be handed a value they cannot represent, node ids of the shape the
// configuration allows, entries only where Raft sends them and contiguous,
// snapshot metadata only on `snap`, and configuration entries that decode.
// A message that fails is refused with 400 by the routes and never stepped:
// one hostile or corrupt message must not crash a node or poison its disk
// (issue 13.2: a heartbeat with term 2^53-1 was persisted, and the next
// election's term + 1 could not be encoded, on every restart).

import { decodeConfChange } from '../raft/membership.js';
import type { Entry, Message, MessageType, SnapshotMeta } from '../raft/types.js';
import type { SnapshotChunk } from './peer-codec.js';

/**
 * The largest term or index a peer may send: 2^48 (about 2.8e14). A cluster
 * appending a million entries a second needs nine years to reach it, and it
 * leaves 2^53 - 2^48 of headroom for every +1 the core does, so a value
 * accepted here stays a safe integer on disk and on the wire.
 */
export const MAX_WIRE_TERM_OR_INDEX = 2 ** 48;
/** Node ids, as the configuration accepts them (config.ts). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Members in one snapshot's configuration. */
export const MAX_CONF_MEMBERS = 1024;
/** Read ids one readIndex message may carry (the core holds at most maxPendingReads, 100,000 by default). */
export const MAX_READ_IDS_PER_MESSAGE = 131_072;
/** Snapshot stream ids (the sender makes 32 hex digits). */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** A conf entry's encoded change (type, node id, the member's URL). */
export const MAX_CONF_ENTRY_BYTES = 4096;

const NUMBER_FIELDS = ['term', 'index', 'logTerm', 'commit', 'rejectHint', 'rejectHintTerm', 'readRound'] as const;
/** Only these carry entries; every other type must carry none. */
const CARRIES_ENTRIES: ReadonlySet<MessageType> = new Set(['app']);

function numberFlaw(field: string, value: number): string | undefined {
  if (!Number.isSafeInteger(value) || value < 0) return `${field} ${value} is not a non-negative integer`;
  if (value > MAX_WIRE_TERM_OR_INDEX) return `${field} ${value} exceeds the bound 2^48`;
  return undefined;
}

function nodeIdFlaw(field: string, id: string): string | undefined {
  return NODE_ID_PATTERN.test(id) ? undefined : `${field} ${JSON.stringify(id.slice(0, 80))} is not a node id (1..64 chars of [A-Za-z0-9_.:-])`;
}

function confStateFlaw(meta: SnapshotMeta): string | undefined {
  const { voters, learners } = meta.conf;
  if (voters.length === 0) return 'snapshot configuration has no voter';
  if (voters.length + learners.length > MAX_CONF_MEMBERS) return `snapshot configuration has more than ${MAX_CONF_MEMBERS} members`;
  const seen = new Set<string>();
  for (const [list, ids] of [['voters', voters], ['learners', learners]] as const) {
    for (const [position, id] of ids.entries()) {
      const flaw = nodeIdFlaw(`snapshot ${list}[${position}]`, id);
      if (flaw !== undefined) return flaw;
      if (seen.has(id)) return `snapshot configuration lists ${JSON.stringify(id)} twice`;
      seen.add(id);
    }
  }
  return undefined;
}

function snapshotFlaw(m: Message): string | undefined {
  const meta = m.snapshot;
  if ((m.type === 'snap') !== (meta !== undefined)) return 'snapshot metadata travels with snap messages and only with them';
  if (meta === undefined) return undefined;
  const flaw = numberFlaw('snapshot index', meta.index) ?? numberFlaw('snapshot term', meta.term);
  if (flaw !== undefined) return flaw;
  if (meta.index < 1 || meta.term < 1) return 'snapshot index and term must be at least 1';
  if (meta.term > m.term) return `snapshot term ${meta.term} is above the message term ${m.term}`;
  return confStateFlaw(meta);
}

function confEntryFlaw(entry: Entry): string | undefined {
  if (entry.data.byteLength > MAX_CONF_ENTRY_BYTES) return `is a configuration change of more than ${MAX_CONF_ENTRY_BYTES} bytes`;
  try {
    // The core and the node decode it again when they append and apply it: it must decode here.
    const change = decodeConfChange(entry.data);
    return nodeIdFlaw('changes the member', change.nodeId);
  } catch (error) {
    return `is not a configuration change (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** An append's entries follow its previous entry without a gap, with terms rising from logTerm to the message term. */
function entriesFlaw(m: Message): string | undefined {
  if (m.entries.length === 0) return undefined;
  if (!CARRIES_ENTRIES.has(m.type)) return `a ${m.type} message carries no entries`;
  let previousTerm = m.logTerm;
  for (const [position, entry] of m.entries.entries()) {
    const where = `entries[${position}]`;
    const flaw = numberFlaw(`${where}.term`, entry.term) ?? numberFlaw(`${where}.index`, entry.index);
    if (flaw !== undefined) return flaw;
    if (entry.index !== m.index + 1 + position) return `${where}.index is ${entry.index}, expected ${m.index + 1 + position} (entries follow index without gaps)`;
    if (entry.term < previousTerm || entry.term > m.term || entry.term < 1) {
      return `${where}.term ${entry.term} is outside ${Math.max(1, previousTerm)}..${m.term} (terms never fall and never pass the leader's)`;
    }
    previousTerm = entry.term;
    if (entry.type === 'conf') {
      const confFlaw = confEntryFlaw(entry);
      if (confFlaw !== undefined) return `${where} ${confFlaw}`;
    }
  }
  return undefined;
}

/** Why `m` must not reach the core, or undefined when it is sane. Cheap: linear in the message. */
export function messageFlaw(m: Message): string | undefined {
  for (const field of NUMBER_FIELDS) {
    const flaw = numberFlaw(field, m[field]);
    if (flaw !== undefined) return flaw;
  }
  const idFlaw = nodeIdFlaw('from', m.from) ?? nodeIdFlaw('to', m.to);
  if (idFlaw !== undefined) return idFlaw;
  if (m.from === m.to) return 'a message from a node to itself never crosses the network';
  if (m.readIds.length > MAX_READ_IDS_PER_MESSAGE) return `${m.readIds.length} read ids exceed the bound ${MAX_READ_IDS_PER_MESSAGE}`;
  return snapshotFlaw(m) ?? entriesFlaw(m);
}

/** Why a snapshot chunk's framing fields are insane, or undefined (its `snap` message is checked by messageFlaw). */
export function chunkFlaw(chunk: SnapshotChunk): string | undefined {
  if (!STREAM_ID_PATTERN.test(chunk.streamId)) return `streamId ${JSON.stringify(chunk.streamId.slice(0, 80))} is not 1..64 chars of [A-Za-z0-9_-]`;
  return numberFlaw('totalBytes', chunk.totalBytes);
}
