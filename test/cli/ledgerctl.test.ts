// ledgerctl status renders the leader's lag figures as a table.

import t from 'tap';
import { renderStatus } from '../../src/cli/ledgerctl.js';

t.test('status table shows each member with match, lag and last contact', async (t) => {
  const text = renderStatus({
    id: 'n1',
    role: 'leader',
    term: 4,
    leader: 'n1',
    commit_index: 120,
    applied_index: 120,
    last_log_index: 121,
    snapshot_index: 100,
    members: [
      { id: 'n1', url: 'http://127.0.0.1:7001', voter: true, match_index: 121, lag_entries: 0, last_contact_ms: 0 },
      { id: 'n2', url: 'http://127.0.0.1:7002', voter: true, match_index: 90, lag_entries: 30, last_contact_ms: 1500 },
      { id: 'n4', url: 'http://127.0.0.1:7004', voter: false },
    ],
  });
  t.match(text, /node n1: leader, term 4, leader n1/);
  t.match(text, /^n2\s+voter\s+90\s+30\s+1500 ms\s+http:\/\/127\.0\.0\.1:7002$/m);
  t.match(text, /^n1 \*\s+voter/m, 'the leader is marked');
  t.match(text, /^n4\s+learner\s+-\s+-\s+-/m);
  t.notMatch(text, /ask it with --url/, 'no hint when asked through the leader');
});
