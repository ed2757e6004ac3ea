// The operator console (GET /ui, docs/ui.md) in a real browser: Debian's
// chromium driven by puppeteer-core, against three real ledgerd processes
// with an API token. The page is opened on a follower, the token entered
// once, and the test reads what an operator reads: the member table
// (matching each node's own GET /v1/cluster), a transfer written through the
// API arriving in the live feed, account and transfer lookups with the
// consistency level and the staleness headers, user-chosen metadata shown as
// text (never as markup), and the other follower, paused with SIGSTOP,
// showing its lag rise and then recover after SIGCONT.
//
// Where chromium is missing (scripts/browser-install.sh installs it; `make
// test` runs that first) or cannot start, the test skips and says why.

import { existsSync } from 'node:fs';
import t, { type Test } from 'tap';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { call, ProcessCluster, setDefaultHeaders, type NodeProcess } from '../cluster/harness.js';
import { waitFor } from '../support/helpers.js';

const TOKEN = 'console-admin-token-0123456789';
/** Generous: two cores shared with other test files. */
const DEADLINE_MS = 20_000;
const CHROMIUM_CANDIDATES = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

function chromiumPath(): string | undefined {
  return CHROMIUM_CANDIDATES.find((candidate): candidate is string => candidate !== undefined && candidate !== '' && existsSync(candidate));
}

async function launch(executablePath: string): Promise<Browser | string> {
  try {
    // --no-sandbox: the test may run as root, where chromium refuses its sandbox.
    return await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'], timeout: 60_000 });
  } catch (error) {
    return `chromium at ${executablePath} did not start: ${error instanceof Error ? error.message.split('\n')[0] ?? error.message : String(error)}`;
  }
}

type Row = Record<string, string>;

/** The member table as shown: one object per row, keyed by each cell's data-field. */
function memberRows(page: Page): Promise<Row[]> {
  return page.$$eval('#members tbody tr', (rows) => rows.map((row) =>
    Object.fromEntries([...row.querySelectorAll('td')].map((cell) => [cell.getAttribute('data-field') ?? '', cell.textContent ?? '']))));
}

function keyValues(page: Page, table: string): Promise<Row> {
  return page.$$eval(`#${table} tbody tr`, (rows) => Object.fromEntries(rows.map((row) => [row.getAttribute('data-key') ?? '', row.querySelector('td')?.textContent ?? ''])));
}

async function lookup(page: Page, kind: 'account' | 'transfer', id: string, consistency: string): Promise<{ answer: Row; headers: Row }> {
  await page.$eval('#lookup-answer tbody', (body) => body.replaceChildren());
  await page.select('#lookup-kind', kind);
  await page.select('#lookup-consistency', consistency);
  await page.$eval('#lookup-id', (input, value) => {
    (input as unknown as { value: string }).value = value;
  }, id);
  await page.click('#lookup-form button[type=submit]');
  await page.waitForSelector('#lookup-answer tbody tr', { timeout: DEADLINE_MS });
  return { answer: await keyValues(page, 'lookup-answer'), headers: await keyValues(page, 'lookup-headers') };
}

/** The row of one member once `ready` holds for it (polling the page, never a fixed sleep). */
function memberWhen(page: Page, id: string, what: string, ready: (row: Row) => boolean): Promise<Row> {
  return waitFor(what, async () => (await memberRows(page)).find((row) => row['id'] === id && ready(row)), DEADLINE_MS, 100);
}

async function post(t: Test, node: NodeProcess, path: string, body: unknown): Promise<number> {
  const answer = await call(node.url, 'POST', path, body);
  t.equal(answer.status, 200, `${path}: ${answer.text}`);
  return answer.body.index as number;
}

const executablePath = chromiumPath();
const skip = executablePath === undefined
  ? `no chromium found (${CHROMIUM_CANDIDATES.filter(Boolean).join(', ')}); scripts/browser-install.sh installs it (needs apt-get and root or sudo)`
  : false;
if (skip !== false) t.comment(`the console's browser test is skipped: ${skip}`);

t.test('the console in chromium against a 3-node cluster with a token', { skip }, async (t) => {
  if (executablePath === undefined) return;
  const cluster = new ProcessCluster();
  setDefaultHeaders({ authorization: `Bearer ${TOKEN}` });
  const launched = launch(executablePath);
  t.teardown(async () => {
    setDefaultHeaders({});
    await cluster.close();
    const browser = await launched;
    if (typeof browser !== 'string') await browser.close();
  });
  // The browser starts while the cluster elects a leader.
  const [browser, { leader, followers }] = await Promise.all([launched, cluster.startStableTrio(['--tokens', `${TOKEN}=admin`])]);
  if (typeof browser === 'string') {
    t.skip(`the console's browser test is skipped: ${browser}`, () => undefined);
    return;
  }
  const [viewed, paused] = followers;

  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error instanceof Error ? error.message : String(error)));
  page.on('console', (message) => {
    // A refused fetch (401 before the token, the 404 of an unknown id) is logged by chromium too; those are expected.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text());
  });
  await page.goto(`${viewed.url}/ui`, { waitUntil: 'domcontentloaded' });
  await waitFor('the page to say a token is needed', async () => /401 unauthorized/.test(await page.$eval('#status-line', (line) => line.textContent ?? '')), DEADLINE_MS, 100);
  t.pass('without a token the page shows the 401 and no data');

  await page.type('#token', TOKEN);
  await page.click('#token-save');
  t.equal(await page.evaluate("sessionStorage.getItem('raft-ledger-token')"), TOKEN, 'the token is kept in sessionStorage');
  t.equal(await page.$eval('#token', (input) => (input as unknown as { value: string }).value), '', 'and cleared from the field');

  await t.test('members, roles, terms and indexes as each node reports them', async (t) => {
    const nodes = [leader, viewed, paused];
    const matched = await waitFor('the member table to match GET /v1/cluster of every node', async () => {
      const shown = await memberRows(page);
      const reported = await Promise.all(nodes.map(async (node) => (await call(node.url, 'GET', '/v1/cluster')).body));
      const same = nodes.every((node, i) => {
        const row = shown.find((r) => r['id'] === node.id);
        const own = reported[i];
        // A follower that missed heartbeats on a loaded machine may be a pre_candidate for a moment: wait for a settled view.
        return row !== undefined && own !== undefined && own.role === (node === leader ? 'leader' : 'follower') && row['role'] === own.role && row['term'] === String(own.term)
          && row['commit'] === String(own.commit_index) && row['applied'] === String(own.applied_index) && row['state'] === 'answering';
      });
      return same && shown.length === 3 ? { shown, reported } : undefined;
    }, DEADLINE_MS, 200);
    t.same(matched.shown.map((row) => [row['id'], row['role']]).sort(), [[leader.id, 'leader'], [viewed.id, 'follower'], [paused.id, 'follower']].sort());
    const leaderRow = matched.shown.find((row) => row['id'] === leader.id);
    t.equal(leaderRow?.['lag-entries'], '0', "the leader's own lag is 0");
    const changes = await page.$$eval('#leader-changes li', (items) => items.map((item) => [item.getAttribute('data-leader'), item.getAttribute('data-term')]));
    t.same(changes[0], [leader.id, String(matched.reported[0]?.term)], 'the current leader is listed with its term');
  });

  await post(t, leader, '/v1/accounts', { accounts: [
    { id: 'ui.alice', ledger: 'USD', metadata: { note: '<img src=x onerror="window.pwned=1"><b>bold</b>' } },
    { id: 'ui.bob', ledger: 'USD' },
  ] });
  const transferIndex = await post(t, viewed, '/v1/transfers', { id: 'ui.t1', debit_account_id: 'ui.alice', credit_account_id: 'ui.bob', amount: '2500', ledger: 'USD' });

  await t.test('a transfer written through the API appears in the live feed', async (t) => {
    const row = await waitFor('ui.t1 in the live feed', () => page.$$eval('#transfers tbody tr[data-transfer="ui.t1"] td', (cells) =>
      cells.length === 0 ? undefined : Object.fromEntries(cells.map((cell) => [cell.getAttribute('data-field'), cell.textContent]))), DEADLINE_MS, 100);
    t.same(row, { index: String(transferIndex), event: 'created', id: 'ui.t1', debit: 'ui.alice', credit: 'ui.bob', amount: '2500', ledger: 'USD', status: 'posted' });
  });

  await t.test('lookups show the values, the consistency level and the staleness headers', async (t) => {
    const account = await lookup(page, 'account', 'ui.bob', 'stale');
    const bob = (await call(viewed.url, 'GET', '/v1/accounts/ui.bob?consistency=stale')).body;
    t.equal(account.answer['balance'], bob.balance, 'the balance the API answers');
    t.equal(account.answer['balance'], '2500');
    t.equal(account.headers['consistency'], 'stale', 'the level chosen is shown');
    t.equal(account.headers['x-served-by'], viewed.id, 'served by the node the page is on');
    t.ok(Number(account.headers['x-raft-index']) >= transferIndex, `the applied index it reflects (${account.headers['x-raft-index']})`);
    t.match(account.headers['x-raft-lag-entries'], /^[0-9]+$/, 'a stale read shows its lag in entries');

    const transfer = await lookup(page, 'transfer', 'ui.t1', 'linearizable');
    t.same([transfer.answer['id'], transfer.answer['amount'], transfer.answer['status'], transfer.answer['index']], ['ui.t1', '2500', 'posted', String(transferIndex)]);
    t.equal(transfer.headers['consistency'], 'linearizable');
    t.notOk('x-staleness-ms' in transfer.headers, 'a linearizable read has no staleness header');

    const alice = await lookup(page, 'account', 'ui.alice', 'lease');
    t.match(alice.answer['metadata'], '<img src=x onerror=\\"window.pwned=1\\"><b>bold</b>', 'metadata is shown as the text it is');
    t.equal(await page.$$eval('#lookup-answer img, #lookup-answer b', (nodes) => nodes.length), 0, 'and never becomes markup');
    t.equal(await page.evaluate('window.pwned'), undefined, 'nothing in it ran');

    const missing = await lookup(page, 'transfer', 'ui.nobody', 'linearizable');
    t.match(missing.answer['error'], /404 transfer_not_found/, 'an unknown id shows the API error');
  });

  await t.test('a follower paused with SIGSTOP shows its lag rise, and recover after SIGCONT', async (t) => {
    cluster.pause(paused.id);
    t.teardown(() => cluster.resume(paused.id));
    // Writes the paused follower cannot receive: a majority (leader and the viewed follower) still commits them.
    for (let i = 0; i < 3; i++) {
      await post(t, leader, '/v1/transfers', { id: `ui.lag${i}`, debit_account_id: 'ui.alice', credit_account_id: 'ui.bob', amount: 1, ledger: 'USD' });
    }
    const behind = await memberWhen(page, paused.id, 'the paused follower to show lag', (row) => Number(row['lag-entries']) >= 3 && Number(row['lag-seconds']) > 0);
    t.match(behind['state'], /no_answer/, `the paused node does not answer its own status (${behind['state']})`);
    const later = await memberWhen(page, paused.id, 'its lag in seconds to keep rising', (row) => Number(row['lag-seconds']) >= Number(behind['lag-seconds']) + 1);
    t.ok(Number(later['last-contact-seconds']) >= 1, `the leader has not heard from it for ${later['last-contact-seconds']} s`);

    cluster.resume(paused.id);
    const commit = (await call(leader.url, 'GET', '/v1/cluster')).body.commit_index as number;
    const recovered = await memberWhen(page, paused.id, 'the follower to catch up', (row) =>
      row['lag-entries'] === '0' && row['lag-seconds'] === '0.0' && row['state'] === 'answering' && Number(row['applied']) >= commit);
    t.equal(recovered['role'], 'follower');
  });

  await t.test('a leadership transfer shows as a leader change and a new leader row', async (t) => {
    const before = (await call(leader.url, 'GET', '/v1/cluster')).body.term as number;
    const moved = await call(leader.url, 'POST', '/v1/cluster/leadership', { to: viewed.id });
    t.equal(moved.status, 200, moved.text);
    const newest = await waitFor('the page to list the new leader', async () => {
      const items = await page.$$eval('#leader-changes li', (list) => list.map((item) => ({
        leader: item.getAttribute('data-leader'), term: Number(item.getAttribute('data-term')), text: item.textContent ?? '' })));
      return items[0]?.leader === viewed.id ? items : undefined;
    }, DEADLINE_MS, 100);
    t.ok((newest[0]?.term ?? 0) > before, `in a later term (${newest[0]?.term} > ${before})`);
    t.match(newest[0]?.text, `after ${leader.id}`, 'after the previous leader');
    t.match(newest[0]?.text, /seen by .*n[123]/, 'as the nodes report it');
    await memberWhen(page, viewed.id, 'the new leader in the member table', (row) => row['role'] === 'leader');
    await memberWhen(page, leader.id, 'the old leader as a follower', (row) => row['role'] === 'follower');
  });

  t.same(pageErrors, [], 'no script errors or CSP violations in the page');
});
