// Real processes: the Raft headers on every answer of every node, writes
// forwarded by followers (or redirected with ?redirect=true), and reads at
// every consistency level served by followers of a 3-node cluster:
// linearizable read-your-writes, lease, stale with its lag and proven
// staleness, min_index, and a follower cut off from the leader that refuses a
// bounded stale read with 503 staleness_bound_exceeded.

import t, { type Test } from 'tap';
import { call, callRaw, describeAnswer, ProcessCluster, RAFT_HEADERS, type Answer, type NodeProcess } from './harness.js';
import { sleep } from '../support/helpers.js';
import { clusterStatusOf, required, type ApiClusterStatus } from '../support/api-json.js';

const cluster = new ProcessCluster();
let leader: NodeProcess;
let follower: NodeProcess;
let other: NodeProcess;

t.before(async () => {
  ({ leader, followers: [follower, other] } = await cluster.startStableTrio());
  const setup = await call(leader.url, 'POST', '/v1/accounts', { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] });
  if (setup.status !== 200) throw new Error(`setup: ${describeAnswer(setup)}`);
});
// close() also sends SIGCONT to every node, so a paused node never outlives the test.
t.teardown(() => cluster.close());

let transferCount = 0;
const newTransfer = () => ({ id: `r.${transferCount++}`, debit_account_id: 'a', credit_account_id: 'b', amount: 1, ledger: 'USD' });

async function clusterView(node: NodeProcess): Promise<ApiClusterStatus> {
  return clusterStatusOf(await call(node.url, 'GET', '/v1/cluster'));
}

/** Error answers whose body has no `details` object, which the contract's error body shows on every error. */
const withoutDetails = new Set<string>();
function noteDetails(answer: Answer): Answer {
  const details: unknown = answer.body?.error?.details;
  if (answer.status >= 300 && (typeof details !== 'object' || details === null || Array.isArray(details))) withoutDetails.add(`${answer.status} ${answer.body?.error?.code}`);
  return answer;
}

function checkRaftHeaders(t: Test, answer: Answer, servedBy: string, what: string): void {
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `${what}: ${header}`);
  t.match(answer.headers['x-raft-term'], /^[1-9][0-9]*$/, `${what}: X-Raft-Term is a term`);
  t.match(answer.headers['x-raft-index'], /^[0-9]+$/, `${what}: X-Raft-Index is an index`);
  t.equal(answer.headers['x-raft-leader'], leader.id, `${what}: X-Raft-Leader`);
  t.equal(answer.headers['x-served-by'], servedBy, `${what}: X-Served-By`);
}

t.test('Raft headers on every answer of every node, success and error', async (t) => {
  const term = (await clusterView(leader)).term;
  for (const node of [leader, follower, other]) {
    const write = await call(node.url, 'POST', '/v1/transfers', newTransfer());
    t.equal(write.status, 200, `write via ${node.id}: ${describeAnswer(write)}`);
    checkRaftHeaders(t, write, leader.id, `write via ${node.id}`);
    t.equal(write.headers['x-raft-index'], String(write.body.index), `write via ${node.id}: X-Raft-Index equals the body's index`);
    t.equal(write.headers['x-raft-term'], String(term), `write via ${node.id}: the current term`);

    const refused = await call(node.url, 'POST', '/v1/transfers', { ...newTransfer(), debit_account_id: 'ghost' });
    t.equal(refused.body?.results?.[0]?.code, 'debit_account_not_found');
    t.equal(refused.headers['x-raft-index'], String(refused.body.index), `refused item via ${node.id}: X-Raft-Index equals the body's index`);

    const answers: [string, Answer][] = [
      ['read', await call(node.url, 'GET', '/v1/accounts/a')],
      ['read 404', await call(node.url, 'GET', '/v1/transfers/nothing')],
      ['stale read', await call(node.url, 'GET', '/v1/accounts/a?consistency=stale')],
      ['400 body', await call(node.url, 'POST', '/v1/accounts', { id: 'x y', ledger: 'USD' })],
      ['400 query', await call(node.url, 'GET', '/v1/accounts/a?consistency=eventual')],
      ['400 malformed', await call(node.url, 'POST', '/v1/accounts', undefined, '{')],
      ['404 route', await call(node.url, 'GET', '/v1/nothing')],
      // A stale read waits only for min_index (no read-index round, whose time varies with load): index_not_reached, deterministically.
      ['503 index_not_reached', await call(node.url, 'GET', '/v1/accounts/a?consistency=stale&min_index=9999999&wait_ms=50')],
      ['cluster', await call(node.url, 'GET', '/v1/cluster')],
      ['healthz', await call(node.url, 'GET', '/healthz')],
      ['readyz', await call(node.url, 'GET', '/readyz')],
    ];
    for (const [what, answer] of answers) {
      noteDetails(answer);
      checkRaftHeaders(t, answer, node.id, `${what} on ${node.id} (${answer.status})`);
      t.equal(answer.headers['x-raft-term'], String(term), `${what} on ${node.id}: the current term`);
    }
    const [, read] = answers[0] as [string, Answer];
    t.ok(Number(read.headers['x-raft-index']) >= required(write.body.index, 'index'), `a linearizable read on ${node.id} reflects the write before it`);
    const [, notReached] = answers[7] as [string, Answer];
    t.equal(notReached.status, 503, `index_not_reached: ${describeAnswer(notReached)}`);
    t.equal(notReached.body?.error?.code, 'index_not_reached');
    t.match(notReached.body?.error?.details, { min_index: 9999999, applied_index: Number });
    t.match(notReached.headers['retry-after'], /^[1-9][0-9]*$/, 'a 503 carries Retry-After');
  }
});

t.test('a follower forwards a write to the leader; ?redirect=true answers 307 to the leader', async (t) => {
  for (const node of [follower, other]) {
    const body = newTransfer();
    const forwarded = await call(node.url, 'POST', '/v1/transfers', body);
    t.equal(forwarded.status, 200, `forwarded by ${node.id}: ${describeAnswer(forwarded)}`);
    t.same(forwarded.body.results, [{ id: body.id, status: 'created' }]);
    t.equal(forwarded.headers['x-served-by'], leader.id, 'answered by the leader');
    t.equal(forwarded.headers['x-ledger-forwarded-by'], node.id, 'marked as forwarded by the follower');
    const onLeader = await call(leader.url, 'GET', `/v1/transfers/${body.id}?consistency=lease`);
    t.match(onLeader.body, { id: body.id, status: 'posted', index: forwarded.body.index }, 'the leader applied it at the answered index');

    const before = (await clusterView(leader)).commit_index;
    const redirected = await call(node.url, 'POST', '/v1/transfers?redirect=true', newTransfer());
    t.equal(redirected.status, 307, `redirect from ${node.id}: ${describeAnswer(redirected)}`);
    t.equal(redirected.headers.location, `${leader.url}/v1/transfers?redirect=true`, 'Location is the same path and query on the leader');
    t.equal(noteDetails(redirected).body?.error?.code, 'leader_redirect');
    t.equal(redirected.headers['x-served-by'], node.id);
    t.equal((await clusterView(leader)).commit_index, before, 'a redirect applies nothing');

    // Follow the redirect as a client would: the same body to the Location.
    const followed = await call(leader.url, 'POST', new URL(redirected.headers.location as string).pathname + '?redirect=true', { ...newTransfer(), id: body.id + '.r' });
    t.equal(followed.status, 200, `the leader takes ?redirect=true itself: ${describeAnswer(followed)}`);
    t.equal(followed.headers['x-served-by'], leader.id);
  }
  const tagged = await callRaw(follower.url, 'POST', '/v1/transfers', {
    headers: { 'content-type': 'application/json', 'x-request-id': 'client-chosen.id:1' },
    body: JSON.stringify(newTransfer()),
  });
  t.equal(tagged.status, 200, describeAnswer(tagged));
  t.equal(tagged.headers['x-request-id'], 'client-chosen.id:1', "the client's request id comes back through forwarding");
  t.equal(tagged.headers['x-served-by'], leader.id);

  const itemRedirect = await call(follower.url, 'POST', '/v1/items/apple/adjust?redirect=true', { id: 'adj', delta: 1 });
  t.equal(itemRedirect.status, 307);
  t.equal(itemRedirect.headers.location, `${leader.url}/v1/items/apple/adjust?redirect=true`);

  // A snapshot compacts one node's own log: the follower takes it itself (it answers no not_leader to forward).
  const snapshot = await call(other.url, 'POST', '/v1/cluster/snapshot');
  t.equal(snapshot.status, 200, `snapshot on a follower: ${describeAnswer(snapshot)}`);
  t.type(snapshot.body?.index, 'number');
  const servedBy = cluster.node(snapshot.headers['x-served-by'] as string);
  t.ok((await clusterView(servedBy)).snapshot_index >= required(snapshot.body.index, 'index'), `${servedBy.id} reports snapshot_index >= ${snapshot.body.index}`);
});

t.test('linearizable reads on followers see every write acknowledged before them', async (t) => {
  const misses: string[] = [];
  for (let i = 0; i < 20; i++) {
    const writer = [leader, other, follower][i % 3] as NodeProcess;
    const reader = i % 2 === 0 ? follower : other;
    const body = newTransfer();
    const write = await call(writer.url, 'POST', '/v1/transfers', body);
    if (write.status !== 200) {
      misses.push(`write ${body.id}: ${describeAnswer(write)}`);
      continue;
    }
    const read = await call(reader.url, 'GET', `/v1/transfers/${body.id}`);
    if (read.status !== 200 || read.headers['x-served-by'] !== reader.id || Number(read.headers['x-raft-index']) < required(write.body.index, 'index')) {
      misses.push(`read ${body.id} on ${reader.id} after index ${write.body.index}: ${describeAnswer(read)}`);
    }
  }
  t.same(misses, [], 'read-your-writes without min_index, served by the follower itself');
});

t.test('lease reads: the leader serves them from its lease; on a follower they still see every acknowledged write', async (t) => {
  const body = newTransfer();
  const write = await call(follower.url, 'POST', '/v1/transfers', body);
  t.equal(write.status, 200);
  const onLeader = await call(leader.url, 'GET', `/v1/transfers/${body.id}?consistency=lease`);
  t.equal(onLeader.status, 200, describeAnswer(onLeader));
  checkRaftHeaders(t, onLeader, leader.id, 'lease read on the leader');
  t.equal(onLeader.headers['x-staleness-ms'], undefined, 'not a stale read');

  // docs/api.md says a follower forwards a lease read (not_leader); the node instead asks the
  // leader for a read index and serves it itself. Either way the read must see the write.
  for (const query of ['consistency=lease', 'consistency=lease&redirect=true']) {
    const onFollower = await call(other.url, 'GET', `/v1/transfers/${body.id}?${query}`);
    if (onFollower.status === 307) {
      t.equal(onFollower.headers.location, `${leader.url}/v1/transfers/${body.id}?${query}`, `${query}: redirected to the leader`);
      continue;
    }
    t.equal(onFollower.status, 200, `${query} on a follower: ${describeAnswer(onFollower)}`);
    t.equal(onFollower.body?.id, body.id, `${query}: it sees the write`);
    t.ok(Number(onFollower.headers['x-raft-index']) >= required(write.body.index, 'index'), `${query}: X-Raft-Index covers the write`);
    t.comment(`${query} on follower ${other.id}: served by ${onFollower.headers['x-served-by']}`);
  }
});

t.test('stale reads on followers: lag entries, a proven staleness bound, min_index', async (t) => {
  const write = await call(leader.url, 'POST', '/v1/transfers', newTransfer());
  const stale = await call(follower.url, 'GET', '/v1/accounts/a?consistency=stale');
  t.equal(stale.status, 200, describeAnswer(stale));
  t.equal(stale.headers['x-served-by'], follower.id, 'served locally');
  t.match(stale.headers['x-raft-lag-entries'], /^[0-9]+$/, 'X-Raft-Lag-Entries');

  for (const bound of [5000, 1000, 200]) {
    const bounded = await call(other.url, 'GET', `/v1/accounts/a?consistency=stale&max_staleness_ms=${bound}`);
    t.equal(bounded.status, 200, `max_staleness_ms=${bound}: ${describeAnswer(bounded)}`);
    t.equal(bounded.headers['x-served-by'], other.id, 'served by the follower');
    t.match(bounded.headers['x-staleness-ms'], /^[0-9]+$/, 'X-Staleness-Ms present');
    t.ok(Number(bounded.headers['x-staleness-ms']) <= bound, `X-Staleness-Ms ${bounded.headers['x-staleness-ms']} <= ${bound}`);
    t.match(bounded.headers['x-raft-lag-entries'], /^[0-9]+$/, 'X-Raft-Lag-Entries');
  }
  // A bound of 0 ms can only hold for a state proven at this very millisecond: either proven or refused, never a larger claim.
  const zero = await call(other.url, 'GET', '/v1/accounts/a?consistency=stale&max_staleness_ms=0&wait_ms=500');
  if (zero.status === 200) t.equal(zero.headers['x-staleness-ms'], '0', 'max_staleness_ms=0 answered only with a proven 0');
  else t.equal(zero.body?.error?.code, 'staleness_bound_exceeded', `max_staleness_ms=0: ${describeAnswer(zero)}`);

  const min = await call(other.url, 'GET', `/v1/accounts/a?consistency=stale&min_index=${write.body.index}`);
  t.equal(min.status, 200, describeAnswer(min));
  t.ok(Number(min.headers['x-raft-index']) >= required(write.body.index, 'index'), 'min_index: the served state includes the write');
});

t.test('min_index: a follower that missed a write waits for it', async (t) => {
  cluster.pause(other.id);
  let write: Answer;
  try {
    write = await call(leader.url, 'POST', '/v1/transfers', newTransfer());
    t.equal(write.status, 200, `committed by leader and one follower: ${describeAnswer(write)}`);
  } finally {
    cluster.resume(other.id);
  }
  const index = required(write.body.index, 'index');
  const read = await call(other.url, 'GET', `/v1/transfers/${write.body.results?.[0]?.id}?consistency=stale&min_index=${index}&wait_ms=5000`);
  t.equal(read.status, 200, `stale read with min_index=${index} right after the pause: ${describeAnswer(read)}`);
  t.ok(Number(read.headers['x-raft-index']) >= index, 'served from a state that includes the write');
  t.equal(read.headers['x-served-by'], other.id);
});

t.test('a follower cut off from the leader cannot prove freshness: 503 staleness_bound_exceeded', async (t) => {
  const before = await call(follower.url, 'GET', '/v1/accounts/a?consistency=stale&max_staleness_ms=1000');
  t.equal(before.status, 200, `bounded stale read while connected: ${describeAnswer(before)}`);
  const paused = [leader.id, other.id];
  // With the leader and the other follower stopped, no leader can be elected: the follower is on its own.
  for (const id of paused) cluster.pause(id);
  try {
    await sleep(400);
    const bounded = await call(follower.url, 'GET', '/v1/accounts/a?consistency=stale&max_staleness_ms=200&wait_ms=500');
    t.equal(bounded.status, 503, `bounded stale read, leader stopped: ${describeAnswer(bounded)}`);
    t.equal(noteDetails(bounded).body?.error?.code, 'staleness_bound_exceeded');
    t.match(bounded.headers['retry-after'], /^[1-9][0-9]*$/, 'Retry-After');
    for (const header of RAFT_HEADERS) t.ok(bounded.headers[header] !== undefined, `503 carries ${header}`);
    const proven = bounded.body?.error?.details?.proven_staleness_ms;
    t.ok(proven === null || proven === undefined || (typeof proven === 'number' && proven > 200), `details.proven_staleness_ms (${proven}) is beyond the bound`);

    const unbounded = await call(follower.url, 'GET', '/v1/accounts/a?consistency=stale');
    t.equal(unbounded.status, 200, `a stale read without a bound is still served: ${describeAnswer(unbounded)}`);
    t.match(unbounded.headers['x-raft-lag-entries'], /^[0-9]+$/);
    if (unbounded.headers['x-staleness-ms'] !== undefined) {
      t.ok(Number(unbounded.headers['x-staleness-ms']) >= 400, `X-Staleness-Ms ${unbounded.headers['x-staleness-ms']} is an upper bound: at least the time cut off`);
    }

    const linearizable = await call(follower.url, 'GET', '/v1/accounts/a?wait_ms=300');
    t.equal(linearizable.status, 503, `a linearizable read cannot be served: ${describeAnswer(linearizable)}`);
    t.match(noteDetails(linearizable).body?.error?.code, /^(read_timeout|no_leader)$/);
    t.match(linearizable.headers['retry-after'], /^[1-9][0-9]*$/, 'Retry-After');

    // Once its election timer has run out it knows no leader: not ready, and writes answer 503 no_leader.
    let ready = await call(follower.url, 'GET', '/readyz');
    for (let i = 0; i < 40 && ready.status === 200; i++) {
      await sleep(100);
      ready = await call(follower.url, 'GET', '/readyz');
    }
    t.equal(ready.status, 503, `readyz on a follower without a leader: ${describeAnswer(ready)}`);
    t.equal(noteDetails(ready).body?.error?.code, 'not_ready');
    t.match(ready.headers['retry-after'], /^[1-9][0-9]*$/, 'Retry-After');
    const view = await call(follower.url, 'GET', '/v1/cluster');
    t.match(view.body, { id: follower.id, leader: null }, `GET /v1/cluster: no leader known (role ${view.body?.role})`);
    t.equal(view.headers['x-raft-leader'], '', 'X-Raft-Leader is empty when no leader is known');
    const write = await call(follower.url, 'POST', '/v1/transfers', newTransfer());
    t.equal(write.status, 503, `a write with no leader known: ${describeAnswer(write)}`);
    t.equal(noteDetails(write).body?.error?.code, 'no_leader');
    t.match(write.headers['retry-after'], /^[1-9][0-9]*$/, 'Retry-After');
    t.equal(write.headers['x-raft-leader'], '', 'X-Raft-Leader is empty');
    t.equal(write.headers['x-served-by'], follower.id);
  } finally {
    for (const id of paused) cluster.resume(id);
  }
  leader = await cluster.waitForLeader();
  [follower, other] = cluster.followersOf(leader) as [NodeProcess, NodeProcess];
  let after: Answer | undefined;
  for (let i = 0; i < 50; i++) {
    after = await call(follower.url, 'GET', '/v1/accounts/a?consistency=stale&max_staleness_ms=500&wait_ms=200');
    if (after.status === 200) break;
    await sleep(100);
  }
  t.equal(after?.status, 200, `bounded stale reads are served again once the leader is back: ${after ? describeAnswer(after) : ''}`);
});

t.test('every error body carries details, as the contract shows it', async (t) => {
  t.same([...withoutDetails].sort(), [], `answered without error.details: ${[...withoutDetails].sort().join(', ')}`);
});

/** The node among `nodes` that says it leads (the others must be reachable), within `timeoutMs`. */
async function leaderAmong(nodes: readonly NodeProcess[], timeoutMs: number): Promise<NodeProcess | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const node of nodes) if ((await clusterView(node)).leader === node.id) return node;
    await sleep(50);
  }
  return undefined;
}

t.test('a leader stopped past an election and resumed serves no stale read at any level', async (t) => {
  const old = await cluster.waitForLeader();
  const others = cluster.followersOf(old);
  cluster.pause(old.id);
  let write: Answer | undefined;
  try {
    const successor = await leaderAmong(others, 10_000);
    t.ok(successor, 'the two others elect a leader');
    if (successor) write = await call(successor.url, 'POST', '/v1/transfers', newTransfer());
  } finally {
    cluster.resume(old.id);
  }
  t.equal(write?.status, 200, `a write through the new leader: ${write ? describeAnswer(write) : ''}`);
  if (write?.status !== 200) return;
  const id = required(write.body.results?.[0]?.id, 'results[0].id');
  const index = required(write.body.index, 'index');
  // At once, before the old leader has heard of the new term: every level must include the write or refuse.
  const levels = ['consistency=lease', 'consistency=linearizable', 'consistency=stale&max_staleness_ms=100', `consistency=stale&min_index=${index}`];
  const answers = await Promise.all(levels.map((query) => call(old.url, 'GET', `/v1/transfers/${id}?${query}`)));
  for (const [i, answer] of answers.entries()) {
    const what = `${levels[i]} on the old leader ${old.id}: ${describeAnswer(answer)}`;
    if (answer.status === 503) {
      t.match(answer.headers['retry-after'], /^[1-9][0-9]*$/, `${what} (refused, with Retry-After)`);
      continue;
    }
    t.equal(answer.status, 200, what);
    t.equal(answer.body?.status, 'posted', `${levels[i]}: the write is seen`);
    t.ok(Number(answer.headers['x-raft-index']) >= index, `${levels[i]}: X-Raft-Index covers it`);
  }
  leader = await cluster.waitForLeader();
  [follower, other] = cluster.followersOf(leader) as [NodeProcess, NodeProcess];
});
