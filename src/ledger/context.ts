// What every command handler receives for one log entry: the connection, the
// entry's index and (never decreasing) time, and the effects collector of the
// hash chain. Handlers run inside the entry's single SQLite transaction.

import type Database from 'better-sqlite3';
import type { Effects } from './chain.js';
import type { ResultCode } from './codes.js';

export interface ApplyContext {
  readonly db: Database.Database;
  readonly index: number;
  readonly timeMs: number;
  readonly effects: Effects;
  /** A prepared statement for this connection, prepared once and reused. */
  readonly statement: (sql: string) => Database.Statement;
}

/** Result of one create-like item (account, transfer, adjustment, reservation). */
export type CreateResult =
  | { id: string; status: 'created' | 'exists' }
  | { id: string; status: 'error'; code: ResultCode };

export type ItemResult =
  | { sku: string; status: 'created' | 'exists' }
  | { sku: string; status: 'error'; code: ResultCode };

/** A reservation refused for one line names that line's sku. */
export type ReservationResult =
  | { id: string; status: 'created' | 'exists' }
  | { id: string; status: 'error'; code: ResultCode; sku?: string };

export type ConfirmResult = { id: string; status: 'confirmed' | 'exists' } | { id: string; status: 'error'; code: ResultCode };
export type ReleaseResult = { id: string; status: 'released' | 'exists' } | { id: string; status: 'error'; code: ResultCode };

/**
 * What applying one create-like item of a batch (an account, transfer, stock
 * item or adjustment) came to, before toCreateResult makes it that item's
 * CreateResult. Not the node's Outcome<T> (src/node/service.ts), which says
 * whether a whole request was answered.
 */
export type CreateOutcome = 'created' | 'exists' | ResultCode;

export function toCreateResult(id: string, outcome: CreateOutcome): CreateResult {
  return outcome === 'created' || outcome === 'exists' ? { id, status: outcome } : { id, status: 'error', code: outcome };
}

/** Prepared statements cached per connection (better-sqlite3 statements are bound to one). */
export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql: string) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
}
