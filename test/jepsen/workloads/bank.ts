// The bank: accounts that may not go below zero (debits_must_not_exceed_credits),
// funded from a "bank" account that may, so the total over every account is 0.
// Clients move random amounts between accounts (sometimes as a pending
// transfer that a later operation posts or voids), and read every balance in
// one snapshot, single transfers, and an account's transfer list, at every
// consistency level.

import { raftIndexOf, type Answer, type HttpRequest } from '../client.js';
import { itemCompletion, LEVELS, readQuery, type ClientState, type Level, type Operation, type SetupSend, type Workload } from './workload.js';

const LEDGER = 'USD';
export const BANK_ACCOUNT = 'bank';
const PAGE_LIMIT = 1000;

export class BankWorkload implements Workload {
  readonly name = 'bank';
  readonly accounts: string[];
  /** Transfer ids some client invoked, for read-transfer (bounded). */
  private readonly knownTransfers: string[] = [];
  /** Pending transfer ids per process, to post or void. */
  private readonly pendingByProcess = new Map<number, string[]>();

  constructor(
    readonly accountCount: number,
    readonly initialBalance: number,
  ) {
    this.accounts = Array.from({ length: accountCount }, (_, i) => `acct-${i}`);
  }

  async setup(send: SetupSend, record: (op: Operation, answer: Answer) => void): Promise<Record<string, unknown>> {
    await send({
      method: 'POST',
      path: '/v1/accounts',
      body: {
        accounts: [
          { id: BANK_ACCOUNT, ledger: LEDGER },
          ...this.accounts.map((id) => ({ id, ledger: LEDGER, flags: { debits_must_not_exceed_credits: true } })),
        ],
      },
    });
    for (const account of this.accounts) {
      const op = this.transfer(`fund-${account}`, BANK_ACCOUNT, account, this.initialBalance, undefined);
      record(op, await send(op.request));
    }
    return { accounts: [BANK_ACCOUNT, ...this.accounts], bank: BANK_ACCOUNT, initial_balance: String(this.initialBalance), ledger: LEDGER };
  }

  next(client: ClientState): Operation {
    const rng = client.rng;
    const roll = rng.next();
    const pending = this.pendingByProcess.get(client.process) ?? [];
    if (roll < 0.45) {
      const from = rng.pick(this.accounts);
      let to = rng.pick(this.accounts);
      if (to === from) to = BANK_ACCOUNT === from ? this.accounts[0] as string : rng.pick([...this.accounts.filter((a) => a !== from)]);
      const id = `t-${client.process}-${client.counter++}`;
      const asPending = rng.chance(0.1) ? rng.int(300, 5_000) : undefined;
      if (asPending !== undefined) {
        pending.push(id);
        this.pendingByProcess.set(client.process, pending);
      }
      this.remember(id);
      return this.transfer(id, from, to, rng.int(1, Math.max(1, Math.floor(this.initialBalance / 4))), asPending);
    }
    if (roll < 0.5 && pending.length > 0) {
      const pendingId = pending.shift() as string;
      const id = `t-${client.process}-${client.counter++}`;
      this.remember(id);
      const f = rng.chance(0.6) ? 'post' : 'void';
      const body = f === 'post' ? { id, post_pending_id: pendingId } : { id, void_pending_id: pendingId };
      return {
        f, value: { id, pending_id: pendingId }, isRead: false,
        request: { method: 'POST', path: '/v1/transfers', body },
        complete: (answer) => itemCompletion(answer, ['created', 'exists']),
      };
    }
    const level = rng.pick(LEVELS);
    if (roll < 0.8) return this.readBalances(level, client);
    if (roll < 0.9 && this.knownTransfers.length > 0) return this.readTransfer(level, rng.pick(this.knownTransfers), client);
    return this.readAccountTransfers(level, rng.pick([BANK_ACCOUNT, ...this.accounts]), client);
  }

  finalReads(): Operation[] {
    return [
      this.readBalances('linearizable', undefined),
      ...[BANK_ACCOUNT, ...this.accounts].map((account) => this.readAccountTransfers('linearizable', account, undefined)),
    ];
  }

  private remember(id: string): void {
    if (this.knownTransfers.length < 10_000) this.knownTransfers.push(id);
  }

  private transfer(id: string, from: string, to: string, amount: number, pendingTimeoutMs: number | undefined): Operation {
    const value: Record<string, unknown> = { id, from, to, amount: String(amount) };
    const body: Record<string, unknown> = { id, debit_account_id: from, credit_account_id: to, amount: String(amount), ledger: LEDGER };
    if (pendingTimeoutMs !== undefined) {
      value.pending = true;
      value.timeout_ms = pendingTimeoutMs;
      body.pending = true;
      body.timeout_ms = pendingTimeoutMs;
    }
    return {
      f: 'transfer', value, isRead: false,
      request: { method: 'POST', path: '/v1/transfers', body },
      complete: (answer) => itemCompletion(answer, ['created', 'exists']),
    };
  }

  private readBalances(level: Level, client: ClientState | undefined): Operation {
    const accounts = [BANK_ACCOUNT, ...this.accounts];
    const { query, extra } = readQuery(level, client);
    return {
      f: 'read-balances', value: { level, ...extra, accounts }, isRead: true,
      request: { method: 'GET', path: `/v1/accounts?ids=${accounts.join(',')}&${query}` },
      complete: (answer) => {
        const balances: Record<string, string> = {};
        for (const account of answer.body.accounts ?? []) if (account) balances[account.id] = account.balance;
        const staleness = answer.headers['x-staleness-ms'];
        return { type: 'ok', value: { balances, index: Number(answer.headers['x-raft-index']), ...(staleness !== undefined ? { staleness_ms: Number(staleness) } : {}) } };
      },
    };
  }

  private readTransfer(level: Level, id: string, client: ClientState): Operation {
    const { query, extra } = readQuery(level, client);
    return {
      f: 'read-transfer', value: { level, ...extra, id }, isRead: true,
      request: { method: 'GET', path: `/v1/transfers/${id}?${query}` },
      complete: (answer) => ({ type: 'ok', value: { found: true, status: answer.body.status, amount: answer.body.amount } }),
    };
  }

  /**
   * Every page of an account's transfers. Later pages ask for min_index of the
   * page before, so the pages join into the list at the last page's index
   * (the list only grows at its end).
   */
  private readAccountTransfers(level: Level, account: string, client: ClientState | undefined): Operation {
    const { query, extra } = readQuery(level, client);
    const page = (after: number, minIndex: number | undefined): HttpRequest => {
      const params = new URLSearchParams(query);
      params.set('after', String(after));
      params.set('limit', String(PAGE_LIMIT));
      if (minIndex !== undefined && !(Number(params.get('min_index')) >= minIndex)) params.set('min_index', String(minIndex));
      return { method: 'GET', path: `/v1/accounts/${account}/transfers?${params.toString()}` };
    };
    return {
      f: 'read-account-transfers', value: { level, ...extra, account }, isRead: true,
      request: page(0, undefined),
      nextPage: (answer) => (answer.body.next_after == null ? undefined : page(Number(answer.body.next_after), raftIndexOf(answer))),
      complete: (answer, pages) => {
        const ids = pages.flatMap((p) => (p.body.transfers ?? []).map((t: { id: string }) => t.id));
        return { type: 'ok', value: { ids, index: raftIndexOf(answer) } };
      },
    };
  }
}

/** A read of a transfer that does not exist is a 404: an ok read that found nothing. */
export function notFoundIsEmptyRead(op: Operation, answer: Answer): { type: 'ok'; value: unknown } | undefined {
  if (answer.status !== 404) return undefined;
  if (op.f === 'read-transfer' && answer.body?.error?.code === 'transfer_not_found') return { type: 'ok', value: { found: false } };
  return undefined;
}
