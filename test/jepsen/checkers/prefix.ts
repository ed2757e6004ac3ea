// The Elle-style history checker for the append-only list of each account's
// transfers (`read-account-transfers`). Every read of an account shows a
// prefix of one commit order, so any two reads must be prefixes of each
// other; a linearizable read invoked after another completed must extend it;
// a linearizable read contains every transfer of the account acknowledged
// before it was invoked; and no read lists a transfer twice, one never
// written, or one whose first invocation came after the read completed.

import type { Operation, ParsedHistory } from '../history.js';
import { invokeValue, ReadAccountTransfersInvoke, ReadAccountTransfersOk, resultValue } from '../history.js';
import { AcknowledgedOrder, indexTransfers, transfersByAccount } from './ledger-index.js';
import type { TransferRecord } from './ledger-index.js';
import { AnomalyList, claimsLinearizable, verdictOf } from './verdict.js';
import type { Verdict } from './verdict.js';

export interface PrefixOptions {
  leaseIsLinearizable?: boolean;
}

interface ListRead {
  operation: Operation;
  ids: string[];
  linearizable: boolean;
}

function isPrefix(shorter: readonly string[], longer: readonly string[]): boolean {
  if (shorter.length > longer.length) return false;
  for (let position = 0; position < shorter.length; position++) if (shorter[position] !== longer[position]) return false;
  return true;
}

function readsByAccount(history: ParsedHistory, leaseIsLinearizable: boolean): Map<string, ListRead[]> {
  const byAccount = new Map<string, ListRead[]>();
  for (const operation of history.operations) {
    if (operation.f !== 'read-account-transfers' || operation.outcome !== 'ok') continue;
    const account = invokeValue(ReadAccountTransfersInvoke, operation).account;
    const reads = byAccount.get(account) ?? [];
    reads.push({ operation, ids: resultValue(ReadAccountTransfersOk, operation).ids, linearizable: claimsLinearizable(operation, leaseIsLinearizable) });
    byAccount.set(account, reads);
  }
  return byAccount;
}

/** Duplicates, phantoms and reads from the future, one read at a time. */
function checkListedIds(account: string, read: ListRead, records: Map<string, TransferRecord>, anomalies: AnomalyList): void {
  const seen = new Set<string>();
  for (const id of read.ids) {
    if (seen.has(id)) anomalies.add('duplicate-transfer', `account ${account}: transfer ${id} listed twice in one read`, read.operation, ...(records.get(id)?.attempts ?? []));
    seen.add(id);
    const record = records.get(id);
    if (record === undefined) {
      anomalies.add('phantom-transfer', `account ${account}: transfer ${id} listed but never written`, read.operation);
    } else if ((record.attempts[0] as Operation).call > read.operation.completedAt) {
      anomalies.add('future-read', `account ${account}: transfer ${id} listed by a read that completed before it was first invoked`, read.operation, record.attempts[0]);
    }
  }
}

/** Any two reads are prefixes of each other: checked along the reads sorted by length. */
function checkComparable(account: string, reads: readonly ListRead[], anomalies: AnomalyList): void {
  const byLength = [...reads].sort((a, b) => a.ids.length - b.ids.length);
  for (let position = 1; position < byLength.length; position++) {
    const shorter = byLength[position - 1] as ListRead;
    const longer = byLength[position] as ListRead;
    if (!isPrefix(shorter.ids, longer.ids)) {
      anomalies.add('non-prefix', `account ${account}: two reads of its transfers disagree on the commit order (neither is a prefix of the other)`, shorter.operation, longer.operation);
    }
  }
}

/** A linearizable read invoked after another completed shows at least as much. */
function checkRealTime(account: string, reads: readonly ListRead[], anomalies: AnomalyList): void {
  const linearizable = reads.filter((read) => read.linearizable);
  const byCompletion = [...linearizable].sort((a, b) => a.operation.completedAt - b.operation.completedAt);
  const byInvocation = [...linearizable].sort((a, b) => a.operation.call - b.operation.call);
  let longestDone: ListRead | undefined;
  let next = 0;
  for (const read of byInvocation) {
    while (next < byCompletion.length && (byCompletion[next] as ListRead).operation.completedAt < read.operation.call) {
      const done = byCompletion[next] as ListRead;
      if (longestDone === undefined || done.ids.length > longestDone.ids.length) longestDone = done;
      next++;
    }
    if (longestDone !== undefined && read.ids.length < longestDone.ids.length) {
      anomalies.add(
        'non-prefix',
        `account ${account}: a read invoked after another completed shows ${read.ids.length} transfers, the earlier read ${longestDone.ids.length}: it does not extend it`,
        longestDone.operation,
        read.operation,
      );
    }
  }
}

/** A linearizable read contains every transfer of the account acknowledged before it was invoked. */
function checkAcknowledged(account: string, reads: readonly ListRead[], ofAccount: readonly TransferRecord[], anomalies: AnomalyList): void {
  const order = new AcknowledgedOrder(ofAccount, (acknowledgement) => acknowledgement.completedAt);
  for (const read of reads) {
    if (!read.linearizable) continue;
    const missing = order.missing(read.ids, read.operation.call);
    if (missing === undefined) continue;
    anomalies.add(
      'missing-acknowledged-transfer',
      `account ${account}: a linearizable read misses ${missing.count} transfer(s) acknowledged before it was invoked, first ${missing.first.id}`,
      missing.first.acknowledged,
      read.operation,
    );
  }
}

export function checkHistoryPrefix(history: ParsedHistory, options: PrefixOptions = {}): Verdict {
  const anomalies = new AnomalyList();
  const records = indexTransfers(history.operations);
  const byAccount = readsByAccount(history, options.leaseIsLinearizable ?? true);
  const recordsByAccount = transfersByAccount(records);
  let readCount = 0;
  for (const [account, reads] of byAccount) {
    readCount += reads.length;
    for (const read of reads) checkListedIds(account, read, records, anomalies);
    checkComparable(account, reads, anomalies);
    checkRealTime(account, reads, anomalies);
    checkAcknowledged(account, reads, recordsByAccount.get(account) ?? [], anomalies);
  }
  return verdictOf(anomalies, false, { accounts: byAccount.size, reads: readCount });
}
