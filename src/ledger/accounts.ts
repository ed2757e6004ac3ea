// Creating accounts. Balances start at zero and change only through transfers.

import { lineOf, requestDigest } from './chain.js';
import { toCreateResult, type ApplyContext, type CreateResult, type CreateOutcome } from './context.js';
import type { Account } from './schemas.js';
import { FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS, FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS } from './transfers.js';

const selectDigest = 'SELECT request_digest FROM accounts WHERE id = ?';
const insertAccount =
  'INSERT INTO accounts (id, ledger, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, metadata, ' +
  'created_at, created_index, request_digest) VALUES (@id, @ledger, @code, @flags, 0, 0, 0, 0, @metadata, @created_at, ' +
  '@created_index, @request_digest)';

export function createAccounts(context: ApplyContext, accounts: readonly Account[]): CreateResult[] {
  return accounts.map((account) => toCreateResult(account.id, createAccount(context, account)));
}

/**
 * What an idempotent repeat must match: every field, with defaults filled in,
 * so `code: 0` repeats an omitted code and `flags: {}` repeats omitted flags.
 */
export function accountIdentity(account: Account): unknown {
  return {
    ...account,
    code: account.code ?? 0,
    flags: {
      debits_must_not_exceed_credits: account.flags?.debits_must_not_exceed_credits === true,
      credits_must_not_exceed_debits: account.flags?.credits_must_not_exceed_debits === true,
    },
  };
}

function createAccount(context: ApplyContext, account: Account): CreateOutcome {
  const digest = requestDigest(accountIdentity(account));
  const existing = context.statement(selectDigest).pluck().get(account.id) as string | undefined;
  if (existing !== undefined) return existing === digest ? 'exists' : 'exists_with_different_fields';
  const debitsLimited = account.flags?.debits_must_not_exceed_credits === true;
  const creditsLimited = account.flags?.credits_must_not_exceed_debits === true;
  if (debitsLimited && creditsLimited) return 'flags_are_mutually_exclusive';
  const row = {
    id: account.id,
    ledger: account.ledger,
    code: account.code ?? 0,
    flags: (debitsLimited ? FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS : 0) | (creditsLimited ? FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS : 0),
    metadata: account.metadata === undefined ? null : JSON.stringify(account.metadata),
    created_at: context.timeMs,
    created_index: context.index,
    request_digest: digest,
  };
  context.statement(insertAccount).run(row);
  context.effects.addCreated('accounts', lineOf.accounts(row));
  return 'created';
}
