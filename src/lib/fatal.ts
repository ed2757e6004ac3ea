// What a failed assertion does to a serving process: it stops it. An
// AssertionFailure means this process's own invariants are broken (STYLE:
// assertions are for programmer errors), and the Raft core or the ledger may
// be half-way through a change; answering 500 and serving on would build on
// that state. The process writes one line to stderr and exits with
// ASSERTION_EXIT_CODE at once, without running the graceful shutdown, which
// would work on the broken state too. Everything acknowledged is on disk
// already (nothing is acknowledged before its fsync), so a restart recovers
// from the WAL and the snapshot exactly as after a crash (docs/node.md).

import { writeSync } from 'node:fs';
import { AssertionFailure } from './assert.js';

/** sysexits.h EX_SOFTWARE: an internal software error. Supervisors restart on it. */
export const ASSERTION_EXIT_CODE = 70;

/** Called with a failed assertion and where it was caught; the default stops the process. */
export type AssertionHandler = (failure: AssertionFailure, where: string) => void;

export function isAssertionFailure(error: unknown): error is AssertionFailure {
  return error instanceof AssertionFailure;
}

/** Writes the failure to stderr synchronously (so the line is not lost to a buffered logger) and exits. */
export const exitOnAssertion: AssertionHandler = (failure, where) => {
  const line = JSON.stringify({
    level: 'fatal',
    time: Date.now(),
    msg: `assertion failed in ${where}: stopping the process (exit ${ASSERTION_EXIT_CODE}); restart it to recover from its data directory`,
    err: { type: failure.name, message: failure.message, stack: failure.stack },
  });
  try {
    writeSync(2, `${line}\n`);
  } finally {
    process.exit(ASSERTION_EXIT_CODE);
  }
};

/** Rethrows an AssertionFailure, so a catch meant for operating errors never swallows one. */
export function rethrowIfAssertion(error: unknown): void {
  if (isAssertionFailure(error)) throw error;
}
