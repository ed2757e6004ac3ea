// transferRequestDigest is the fast spelling of requestDigest(transferIdentity(t)),
// the digest that decides `exists` against `exists_with_different_fields` and
// is stored with every transfer: it must give the same bytes for every
// transfer the schema can produce.

import fc from 'fast-check';
import t from 'tap';
import { requestDigest } from '../../src/ledger/chain.js';
import { transferSchema, type Transfer } from '../../src/ledger/schemas.js';
import { transferIdentity, transferRequestDigest } from '../../src/ledger/transfers.js';

const id = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,8}$/);
const candidate = fc.record(
  {
    id,
    debit_account_id: id,
    credit_account_id: id,
    amount: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
    ledger: id,
    code: fc.integer({ min: 0, max: 100 }),
    linked: fc.boolean(),
    pending: fc.boolean(),
    timeout_ms: fc.integer({ min: 1, max: 10_000 }),
    post_pending_id: id,
    void_pending_id: id,
    metadata: fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 3 }),
  },
  { requiredKeys: ['id'] },
);

t.test('the same digest as requestDigest(transferIdentity(t)) for every valid transfer', (t) => {
  let checked = 0;
  fc.assert(
    fc.property(candidate, (input) => {
      const parsed = transferSchema.safeParse(input);
      if (!parsed.success) return true;
      checked++;
      const transfer: Transfer = parsed.data;
      return transferRequestDigest(transfer) === requestDigest(transferIdentity(transfer));
    }),
    { numRuns: 5000, seed: 11 },
  );
  t.ok(checked > 100, `${checked} valid transfers compared`);
  t.end();
});

t.test('defaults make an omitted field and its default the same request; a settle keeps an omitted code apart', (t) => {
  const base: Transfer = { id: 't', debit_account_id: 'a', credit_account_id: 'b', amount: 5n, ledger: 'USD' };
  t.equal(transferRequestDigest(base), transferRequestDigest({ ...base, code: 0, linked: false, pending: false }));
  t.not(transferRequestDigest(base), transferRequestDigest({ ...base, code: 1 }));
  t.not(transferRequestDigest({ id: 'p', post_pending_id: 'x' }), transferRequestDigest({ id: 'p', post_pending_id: 'x', code: 0 }));
  t.end();
});
