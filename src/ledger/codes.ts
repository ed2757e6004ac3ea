// The catalogue of result codes the ledger state machine answers with. These
// are business outcomes (typed results), never exceptions: the HTTP layer maps
// them to response bodies, and every replica must produce the same code for
// the same entry. Codes are stable strings: add new ones, never rename.

export const resultCodes = [
  // idempotency
  'exists_with_different_fields',
  // accounts
  'flags_are_mutually_exclusive',
  // transfers
  'amount_must_be_positive',
  'accounts_must_be_different',
  'debit_account_not_found',
  'credit_account_not_found',
  'ledger_mismatch',
  'exceeds_credits',
  'exceeds_debits',
  'overflow',
  'pending_transfer_not_found',
  'pending_transfer_not_pending',
  'pending_transfer_has_different_debit_account_id',
  'pending_transfer_has_different_credit_account_id',
  'pending_transfer_has_different_ledger',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'pending_transfer_expired',
  'amount_exceeds_pending',
  'void_amount_must_equal_pending',
  'linked_event_failed',
  'linked_event_chain_open',
  // inventory
  'item_not_found',
  'on_hand_below_reserved',
  'insufficient_stock',
  'lines_must_have_distinct_skus',
  'quantity_must_be_positive',
  'reservation_not_found',
  'reservation_already_confirmed',
  'reservation_already_released',
  'reservation_expired',
  // a log entry whose bytes do not decode to a known, valid command
  'entry_invalid',
] as const;

export type ResultCode = (typeof resultCodes)[number];
