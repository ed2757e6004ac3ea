// The change pages read back from a real SQLite ledger: whole entries only,
// an entry larger than a page in one piece, `skip` inside an entry, and the
// same events whatever the page boundaries.

import t from 'tap';
import { encodeEntry, EVENT_PAGE_ROWS, LedgerStateMachine, type Command, type PositionedEvent } from '../../src/ledger/index.js';

function ledgerWith(commands: readonly Command[]): LedgerStateMachine {
  const machine = LedgerStateMachine.open(':memory:');
  commands.forEach((command, n) => machine.applyEntry(n + 1, encodeEntry({ timeMs: 1000 + n, command })));
  return machine;
}

const accounts = (prefix: string, count: number): Command => ({
  type: 'create_accounts',
  accounts: Array.from({ length: count }, (_, n) => ({ id: `${prefix}${n}`, ledger: 'USD' })),
});

function readAll(machine: LedgerStateMachine): { events: PositionedEvent[]; pages: number } {
  const events: PositionedEvent[] = [];
  let from = { index: 0, skip: 0 };
  let pages = 0;
  while (from.index <= machine.appliedIndex()) {
    const page = machine.queries.eventPage(from);
    t.ok(page.next.index > from.index, `page ${pages} moves forward`);
    events.push(...page.events);
    from = page.next;
    pages++;
  }
  return { events, pages };
}

t.test('an entry with more changes than a page comes whole, with 1-based sub-positions', async (t) => {
  const big = EVENT_PAGE_ROWS * 2 + 5;
  const machine = ledgerWith([accounts('s', 1), accounts('big', big), accounts('t', 3)]);
  const first = machine.queries.eventPage({ index: 0, skip: 0 });
  t.same(first.events.map((e) => [e.index, e.sub]), [[1, 0]], 'the page stops before the entry that may go on past it');
  const second = machine.queries.eventPage(first.next);
  t.equal(second.events.length, big, 'the large entry in one page');
  const { events, pages } = readAll(machine);
  t.equal(events.length, 1 + big + 3);
  t.same(events.filter((e) => e.index === 2).map((e) => e.sub), Array.from({ length: big }, (_, n) => n + 1));
  t.ok(pages <= 3, `${pages} pages`);
  machine.close();
});

t.test('page boundaries fall between entries, and skip resumes inside one', async (t) => {
  const commands = Array.from({ length: 40 }, (_, n) => accounts(`e${n}.`, 30));
  const machine = ledgerWith(commands);
  const { events, pages } = readAll(machine);
  t.ok(pages > 1, `several pages (${pages})`);
  t.equal(events.length, 40 * 30);
  const ids = events.map((e) => `${e.index}.${e.sub}`);
  t.equal(new Set(ids).size, ids.length, 'no duplicates across pages');
  t.ok(events.every((e, n) => n === 0 || (events[n - 1] as PositionedEvent).index * 100 + (events[n - 1] as PositionedEvent).sub < e.index * 100 + e.sub));
  const resumed = machine.queries.eventPage({ index: 7, skip: 12 });
  t.same([resumed.events[0]?.index, resumed.events[0]?.sub], [7, 13]);
  t.equal(resumed.events[0]?.event.record && 'id' in resumed.events[0].event.record ? resumed.events[0].event.record.id : undefined, 'e6.12');
  const overSkipped = machine.queries.eventPage({ index: 7, skip: 99 });
  t.same([overSkipped.events[0]?.index, overSkipped.events[0]?.sub], [8, 1], 'a skip past the entry skips that entry only');
  const beyond = machine.queries.eventPage({ index: 41, skip: 0 });
  t.same(beyond, { events: [], next: { index: 41, skip: 0 } }, 'nothing past the applied index');
  machine.close();
});
