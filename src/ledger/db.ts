// The SQLite layout of the ledger and the connection settings. Every table keeps
// the log index that created a row (created_index) and, for rows whose status
// changes once (pending transfers, reservations), the index of that change
// (status_index), so verifyChain can recompute each entry's digest from the
// stored records. CHECK constraints repeat the invariants as a last line of
// defence: a violation aborts the entry's transaction and surfaces as an
// exception (a programmer error), never as silently wrong state.

import Database from 'better-sqlite3';

export const SCHEMA_VERSION = 1;

const ddl = `
CREATE TABLE meta (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  schema_version INTEGER NOT NULL,
  applied_index INTEGER NOT NULL CHECK (applied_index >= 0),
  time_ms INTEGER NOT NULL CHECK (time_ms >= 0),
  chain_head TEXT NOT NULL
);
CREATE TABLE chain (
  entry_index INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  data_digest TEXT NOT NULL,
  effects_digest TEXT NOT NULL,
  head TEXT NOT NULL
);
CREATE TABLE accounts (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ledger TEXT NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  debits_pending INTEGER NOT NULL CHECK (debits_pending >= 0),
  debits_posted INTEGER NOT NULL CHECK (debits_posted >= 0),
  credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
  credits_posted INTEGER NOT NULL CHECK (credits_posted >= 0),
  metadata TEXT,
  created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL,
  request_digest TEXT NOT NULL
);
CREATE TABLE transfers (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void')),
  debit_account_id TEXT NOT NULL,
  credit_account_id TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  ledger TEXT NOT NULL,
  code INTEGER NOT NULL,
  pending_id TEXT,
  expires_at INTEGER,
  status TEXT NOT NULL CHECK (status IN ('posted', 'pending', 'voided', 'expired')),
  status_index INTEGER,
  metadata TEXT,
  created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL,
  request_digest TEXT NOT NULL
);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, seq);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, seq);
CREATE INDEX transfers_due ON transfers (expires_at, id) WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX transfers_status_changes ON transfers (status_index, id) WHERE status_index IS NOT NULL;
CREATE TABLE items (
  seq INTEGER PRIMARY KEY,
  sku TEXT NOT NULL UNIQUE,
  on_hand INTEGER NOT NULL,
  reserved INTEGER NOT NULL,
  initial_on_hand INTEGER NOT NULL,
  metadata TEXT,
  created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL,
  request_digest TEXT NOT NULL,
  CHECK (0 <= reserved AND reserved <= on_hand AND on_hand <= 2147483647)
);
CREATE TABLE adjustments (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sku TEXT NOT NULL,
  delta INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL,
  request_digest TEXT NOT NULL
);
CREATE TABLE reservations (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  lines TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released', 'expired')),
  status_index INTEGER,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL,
  request_digest TEXT NOT NULL
);
CREATE INDEX reservations_due ON reservations (expires_at, id) WHERE status = 'held';
CREATE INDEX reservations_status_changes ON reservations (status_index, id) WHERE status_index IS NOT NULL;
`;

/** The chain head before any entry: 64 zero hex digits. */
export const GENESIS_HEAD = '0'.repeat(64);

export function openDatabase(source: string | Buffer): Database.Database {
  const db = new Database(source);
  db.defaultSafeIntegers(true);
  configure(db, typeof source === 'string' && source !== ':memory:');
  return db;
}

function configure(db: Database.Database, fileBacked: boolean): void {
  if (fileBacked) {
    // The Raft log is the durable source of truth. NORMAL in WAL mode may lose
    // the last commits on power loss but never corrupts, and the applied index
    // lives in the same transactions, so it rolls back together with the state
    // and the node re-applies from the log.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = OFF');
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (exists === undefined) {
    db.transaction(() => {
      db.exec(ddl);
      db.prepare('INSERT INTO meta (singleton, schema_version, applied_index, time_ms, chain_head) VALUES (1, ?, 0, 0, ?)').run(
        SCHEMA_VERSION,
        GENESIS_HEAD,
      );
    })();
  }
}
