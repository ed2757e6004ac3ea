// The bank checker. Money is conserved in every read (all accounts, the bank
// included, sum to zero), no account but the bank is ever negative, every
// acknowledged transfer is present after recovery, no refused transfer is
// ever applied, and the final balances equal a replay of the transfers that
// exist: the acknowledged ones plus those of unknown outcome that the final
// reads show present. Transfers of unknown outcome that no final read settles
// are tried both ways (up to a bound, beyond which the replay is 'unknown').

import type { Operation, ParsedHistory } from '../history.js';
import { invokeValue, ReadAccountTransfersInvoke, ReadAccountTransfersOk, ReadBalancesOk, ReadTransferInvoke, ReadTransferOk, resultValue, toBigInt } from '../history.js';
import type { Decimal } from '../history.js';
import { accountsOf, balanceEffect, finalPhaseStart, indexTransfers, isFinalRead, TRANSFER_WRITES, transfersByAccount } from './ledger-index.js';
import type { TransferRecord } from './ledger-index.js';
import { AnomalyList, verdictOf } from './verdict.js';
import type { Verdict } from './verdict.js';

export interface BankOptions {
  /** The account that funds the others; it alone may be negative. Default "bank". */
  bankAccount?: string;
  /**
   * Balances before the first transfer of the history. Default: a read of every account that
   * completed before any transfer was invoked, else zero everywhere (the runner records the funding).
   */
  initialBalances?: Record<string, Decimal>;
  /** Transfers of unknown outcome, unsettled by the final reads, tried in every combination up to this many. */
  maxUndecidedTransfers?: number;
}

type Presence = { present: boolean; evidence: Operation };

/** What the final reads say about each transfer id; contradictions are anomalies. */
function finalPresence(history: ParsedHistory, records: Map<string, TransferRecord>, anomalies: AnomalyList): Map<string, Presence> {
  const start = finalPhaseStart(history);
  const byAccount = transfersByAccount(records);
  const presence = new Map<string, Presence>();
  const note = (id: string, present: boolean, evidence: Operation): void => {
    const earlier = presence.get(id);
    if (earlier === undefined) presence.set(id, { present, evidence });
    else if (earlier.present !== present) {
      anomalies.add('final-reads-disagree', `final reads disagree on whether transfer ${id} exists`, earlier.evidence, evidence);
    }
  };
  for (const operation of history.operations) {
    if (!isFinalRead(operation, start)) continue;
    if (operation.f === 'read-transfer') {
      note(invokeValue(ReadTransferInvoke, operation).id, resultValue(ReadTransferOk, operation).found, operation);
    } else if (operation.f === 'read-account-transfers') {
      const account = invokeValue(ReadAccountTransfersInvoke, operation).account;
      const listed = new Set(resultValue(ReadAccountTransfersOk, operation).ids);
      for (const record of byAccount.get(account) ?? []) note(record.id, listed.has(record.id), operation);
    }
  }
  return presence;
}

function checkReadBalances(operation: Operation, knownAccounts: ReadonlySet<string>, bank: string, anomalies: AnomalyList): boolean {
  const balances = resultValue(ReadBalancesOk, operation).balances;
  for (const [account, balance] of Object.entries(balances)) {
    if (account !== bank && toBigInt(balance) < 0n) anomalies.add('negative-balance', `account ${account} read with balance ${String(balance)}`, operation);
  }
  const complete = [...knownAccounts].every((account) => account in balances);
  if (!complete) return false;
  const total = Object.values(balances).reduce((sum: bigint, balance) => sum + toBigInt(balance), 0n);
  if (total !== 0n) anomalies.add('total-not-conserved', `balances of all ${knownAccounts.size} accounts sum to ${total}, not 0`, operation);
  return true;
}

function addEffect(into: Map<string, bigint>, effect: Map<string, bigint>, times: bigint): void {
  for (const [account, delta] of effect) into.set(account, (into.get(account) ?? 0n) + delta * times);
}

function differenceOf(read: Record<string, Decimal>, expected: Map<string, bigint>): Map<string, bigint> {
  const difference = new Map<string, bigint>();
  for (const [account, balance] of Object.entries(read)) {
    const delta = toBigInt(balance) - (expected.get(account) ?? 0n);
    if (delta !== 0n) difference.set(account, delta);
  }
  return difference;
}

/** The difference restricted to the read's accounts equals `times` x the effect of the transfer. */
function explainedBy(difference: Map<string, bigint>, effect: Map<string, bigint>, times: bigint, read: Record<string, Decimal>): boolean {
  const scaled = new Map<string, bigint>();
  for (const [account, delta] of effect) if (account in read && delta !== 0n) scaled.set(account, delta * times);
  if (scaled.size === 0 || scaled.size !== difference.size) return false;
  return [...scaled].every(([account, delta]) => difference.get(account) === delta);
}

interface Replay {
  base: Map<string, bigint>;
  applied: TransferRecord[];
  undecided: TransferRecord[];
  unreplayable: TransferRecord[];
}

function replayOf(records: Map<string, TransferRecord>, presence: Map<string, Presence>, initial: Record<string, Decimal>): Replay {
  const base = new Map(Object.entries(initial).map(([account, balance]) => [account, toBigInt(balance)] as [string, bigint]));
  const replay: Replay = { base, applied: [], undecided: [], unreplayable: [] };
  for (const record of records.values()) {
    if (record.refused) continue;
    const seen = presence.get(record.id)?.present;
    const exists = record.acknowledged !== undefined || seen === true;
    const effect = balanceEffect(record);
    if (effect === undefined) {
      if (exists || seen === undefined) replay.unreplayable.push(record);
      continue;
    }
    if (exists) {
      addEffect(base, effect, 1n);
      replay.applied.push(record);
    } else if (seen === undefined && effect.size > 0) replay.undecided.push(record);
  }
  return replay;
}

/** Tries every combination of the undecided transfers; true when one matches the read. */
function someCombinationMatches(read: Record<string, Decimal>, replay: Replay): boolean {
  const effects = replay.undecided.map((record) => balanceEffect(record) as Map<string, bigint>);
  for (let mask = 0; mask < 2 ** effects.length; mask++) {
    const expected = new Map(replay.base);
    effects.forEach((effect, bit) => {
      if ((mask & (1 << bit)) !== 0) addEffect(expected, effect, 1n);
    });
    if (differenceOf(read, expected).size === 0) return true;
  }
  return false;
}

function reportMismatch(operation: Operation, read: Record<string, Decimal>, replay: Replay, anomalies: AnomalyList): void {
  const difference = differenceOf(read, replay.base);
  const shown = JSON.stringify(Object.fromEntries([...difference].map(([account, delta]) => [account, delta.toString()])));
  for (const record of replay.applied) {
    const effect = balanceEffect(record) as Map<string, bigint>;
    if (explainedBy(difference, effect, 1n, read)) {
      anomalies.add('double-applied', `final balances show transfer ${record.id} applied twice (read minus replay: ${shown})`, operation, ...record.attempts);
      return;
    }
    if (record.acknowledged !== undefined && explainedBy(difference, effect, -1n, read)) {
      anomalies.add('lost-write', `final balances miss acknowledged transfer ${record.id} (read minus replay: ${shown})`, operation, ...record.attempts);
      return;
    }
  }
  anomalies.add('final-balance-mismatch', `final balances differ from a replay of the ${replay.applied.length} transfers that exist (read minus replay: ${shown})`, operation);
}

export function checkBank(history: ParsedHistory, options: BankOptions = {}): Verdict {
  const bank = options.bankAccount ?? 'bank';
  const maxUndecided = options.maxUndecidedTransfers ?? 12;
  const anomalies = new AnomalyList();
  const records = indexTransfers(history.operations);
  const knownAccounts = new Set<string>([bank]);
  for (const record of records.values()) for (const account of accountsOf(record)) knownAccounts.add(account);

  let totalsChecked = 0;
  for (const operation of history.operations) {
    if (operation.f === 'read-balances' && operation.outcome === 'ok' && checkReadBalances(operation, knownAccounts, bank, anomalies)) totalsChecked++;
  }
  const presence = finalPresence(history, records, anomalies);
  checkPresence(history, records, presence, anomalies);

  const initial = options.initialBalances ?? balancesBeforeTransfers(history, knownAccounts) ?? {};
  const replay = replayOf(records, presence, initial);
  const start = finalPhaseStart(history);
  const finalBalanceReads = history.operations.filter((operation) => operation.f === 'read-balances' && isFinalRead(operation, start));
  let replayUndecided = replay.unreplayable.length > 0 || finalBalanceReads.length === 0;
  for (const operation of replay.unreplayable.length > 0 ? [] : finalBalanceReads) {
    const read = resultValue(ReadBalancesOk, operation).balances;
    if (differenceOf(read, replay.base).size === 0) continue;
    if (replay.undecided.length > maxUndecided) {
      replayUndecided = true;
      continue;
    }
    if (!someCombinationMatches(read, replay)) reportMismatch(operation, read, replay, anomalies);
  }
  const acknowledged = [...records.values()].filter((record) => record.acknowledged !== undefined);
  return verdictOf(anomalies, replayUndecided, {
    transfers: records.size,
    acknowledged: acknowledged.length,
    refused: [...records.values()].filter((record) => record.refused).length,
    acknowledgedWithoutFinalRead: acknowledged.filter((record) => !presence.has(record.id)).length,
    balanceReadsWithTotalChecked: totalsChecked,
    finalBalanceReads: finalBalanceReads.length,
    undecidedTransfers: replay.undecided.length,
    unreplayableTransfers: replay.unreplayable.map((record) => record.id).slice(0, 20),
  });
}

/** The balances of a read of every account that completed before the first transfer was invoked. */
function balancesBeforeTransfers(history: ParsedHistory, knownAccounts: ReadonlySet<string>): Record<string, Decimal> | undefined {
  const firstTransfer = history.operations.find((operation) => TRANSFER_WRITES.has(operation.f))?.call ?? Infinity;
  for (const operation of history.operations) {
    if (operation.f !== 'read-balances' || operation.outcome !== 'ok' || operation.completedAt >= firstTransfer) continue;
    const balances = resultValue(ReadBalancesOk, operation).balances;
    if ([...knownAccounts].every((account) => account in balances)) return balances;
  }
  return undefined;
}

/** Acknowledged transfers must be present at the end; refused ones must never appear in any read. */
function checkPresence(history: ParsedHistory, records: Map<string, TransferRecord>, presence: Map<string, Presence>, anomalies: AnomalyList): void {
  for (const record of records.values()) {
    const final = presence.get(record.id);
    if (record.acknowledged !== undefined && final?.present === false) {
      anomalies.add('lost-write', `acknowledged transfer ${record.id} is missing after recovery`, record.acknowledged, final.evidence);
    }
  }
  for (const operation of history.operations) {
    if (operation.outcome !== 'ok') continue;
    const shown = shownTransferIds(operation);
    for (const id of shown) {
      const record = records.get(id);
      if (record?.refused === true) anomalies.add('refused-applied', `transfer ${id} was refused but a read shows it`, ...record.attempts, operation);
    }
  }
}

/** Transfer ids a read shows as present. */
function shownTransferIds(operation: Operation): string[] {
  if (operation.f === 'read-transfer') return resultValue(ReadTransferOk, operation).found ? [invokeValue(ReadTransferInvoke, operation).id] : [];
  if (operation.f === 'read-account-transfers') return resultValue(ReadAccountTransfersOk, operation).ids;
  return [];
}
