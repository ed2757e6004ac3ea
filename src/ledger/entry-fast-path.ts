// A fast path for decoding the commonest log entry: `create_transfers` whose
// transfers carry only id, accounts, amount, ledger, code and linked. Every
// replica decodes every entry, and zod's general walk costs more than the
// rest of decoding; this path checks the same rules by hand for that narrow
// shape and answers `undefined` for anything else (any other command or
// field, any doubt), which then goes through the zod schemas, the one
// definition (schemas.ts). So this path may decline, never disagree:
// test/ledger/entry-fast-path.test.ts checks, over generated valid and
// invalid commands, that whenever it answers, the answer equals the
// schema's, key order included.

import { MAX_AMOUNT, MAX_BATCH_ITEMS, MAX_CODE, type Command, type Transfer } from './schemas.js';

const ID = /^[A-Za-z0-9_.:-]+$/;
const DIGITS = /^(0|[1-9][0-9]*)$/;

const FAST_FIELDS = new Set(['id', 'debit_account_id', 'credit_account_id', 'amount', 'ledger', 'code', 'linked']);

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const isId = (value: unknown, maxLength: number): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= maxLength && ID.test(value);

function amountOf(value: unknown): bigint | undefined {
  if (typeof value === 'string') {
    if (value.length > 40 || !DIGITS.test(value)) return undefined;
    const amount = BigInt(value);
    return amount <= MAX_AMOUNT ? amount : undefined;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  return undefined;
}

function fastTransfer(value: unknown): Transfer | undefined {
  if (!isPlainRecord(value)) return undefined;
  for (const key of Object.keys(value)) if (!FAST_FIELDS.has(key)) return undefined;
  const { id, debit_account_id: debit, credit_account_id: credit, ledger, code, linked } = value;
  if (!isId(id, 128) || !isId(debit, 128) || !isId(credit, 128) || !isId(ledger, 32)) return undefined;
  const amount = amountOf(value['amount']);
  if (amount === undefined) return undefined;
  // The schema's key order: id, debit_account_id, credit_account_id, amount, ledger, code, linked.
  const transfer: Transfer = { id, debit_account_id: debit, credit_account_id: credit, amount, ledger };
  if (code !== undefined) {
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > MAX_CODE) return undefined;
    transfer.code = code;
  }
  if (linked !== undefined) {
    if (typeof linked !== 'boolean') return undefined;
    transfer.linked = linked;
  }
  return transfer;
}

/** The command, if it is a create_transfers of the narrow shape; undefined means "ask the schema". */
export function fastCommand(command: unknown): Command | undefined {
  if (!isPlainRecord(command) || command['type'] !== 'create_transfers') return undefined;
  const keys = Object.keys(command);
  if (keys.length !== 2 || !('transfers' in command)) return undefined;
  const items = command['transfers'];
  if (!Array.isArray(items) || items.length < 1 || items.length > MAX_BATCH_ITEMS) return undefined;
  const transfers: Transfer[] = [];
  for (const item of items) {
    const transfer = fastTransfer(item);
    if (transfer === undefined) return undefined;
    transfers.push(transfer);
  }
  return { type: 'create_transfers', transfers };
}
