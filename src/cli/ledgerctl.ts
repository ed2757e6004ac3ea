#!/usr/bin/env node
// ledgerctl: the operator's command line, a client of the HTTP API (USAGE
// below). `status` asked a follower follows it to the leader, which alone
// knows the replication figures.

import { request } from 'undici';
import { runAsProgram } from './entry.js';

export const USAGE = `usage: ledgerctl [--url URL] [--token TOKEN] COMMAND

commands:
  status                        the cluster, with each member's replication lag (asked of the leader)
  members add ID URL [--voter]  add a node (as a learner; --voter promotes it once caught up)
  members remove ID             remove a node
  leadership [--to ID]          hand leadership to ID (or the most caught-up voter)
  snapshot                      take a snapshot on the node asked
  account ID | transfer ID      read one account or transfer

options:
  --url URL      any node of the cluster (default http://127.0.0.1:7001; environment LEDGER_URL)
  --token TOKEN  a client bearer token, if the cluster has --tokens (environment LEDGER_TOKEN)
  -h, --help     this text
`;

interface Target {
  readonly url: string;
  readonly token: string | undefined;
}

interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
}

async function call(target: Target, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await request(new URL(path, target.url), {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.statusCode, body: parsed, headers: response.headers };
}

interface ClusterView {
  id: string;
  role: string;
  term: number;
  leader: string;
  commit_index: number;
  applied_index: number;
  last_log_index: number;
  snapshot_index: number;
  // JSON has no undefined: a figure the node asked does not know comes as null (or is left out).
  members: { id: string; url?: string | null; voter: boolean; match_index?: number | null; lag_entries?: number | null; lag_ms?: number | null; last_contact_ms?: number | null }[];
}

const known = (figure: number | null | undefined): figure is number => typeof figure === 'number';

/** Renders the cluster as seen by the node asked, with the leader's lag figures when asked through the leader. */
export function renderStatus(view: ClusterView): string {
  const lines = [
    `node ${view.id}: ${view.role}, term ${view.term}, leader ${view.leader || '(none)'}`,
    `commit ${view.commit_index}, applied ${view.applied_index}, last log ${view.last_log_index}, snapshot ${view.snapshot_index}`,
    '',
  ];
  const rows = [['MEMBER', 'ROLE', 'MATCH', 'LAG (entries)', 'LAG (time)', 'LAST CONTACT', 'URL']];
  for (const m of view.members) {
    rows.push([
      m.id + (m.id === view.leader ? ' *' : ''),
      m.voter ? 'voter' : 'learner',
      known(m.match_index) ? String(m.match_index) : '-',
      known(m.lag_entries) ? String(m.lag_entries) : '-',
      known(m.lag_ms) ? `${m.lag_ms} ms` : '-',
      known(m.last_contact_ms) ? `${m.last_contact_ms} ms` : '-',
      m.url ?? '-',
    ]);
  }
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  for (const row of rows) lines.push(row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd());
  if (view.role !== 'leader') lines.push('', '(match, lag and contact are known on the leader only, which could not be asked)');
  return lines.join('\n');
}

/** The cluster as the leader sees it, reached through the node at `target`; the node's own view when the leader cannot be asked. */
async function leaderView(target: Target): Promise<{ view: ClusterView; note: string | undefined } | ApiAnswer> {
  const answer = await call(target, 'GET', '/v1/cluster');
  if (answer.status !== 200) return answer;
  const view = answer.body as ClusterView;
  if (view.role === 'leader') return { view, note: undefined };
  if (!view.leader) return { view, note: `${view.id} knows no leader (an election is under way, or there is no quorum)` };
  const leaderUrl = view.members.find((m) => m.id === view.leader)?.url;
  if (!leaderUrl) return { view, note: `${view.id} knows no URL for the leader ${view.leader}` };
  try {
    const led = await call({ url: leaderUrl, token: target.token }, 'GET', '/v1/cluster');
    const body = led.body as ClusterView | undefined;
    if (led.status === 200 && body?.role === 'leader') return { view: body, note: `asked ${view.id} (${view.role}); figures from the leader at ${leaderUrl}` };
    return { view, note: `the leader ${view.leader} at ${leaderUrl} answered ${led.status}${body?.role ? ` as ${body.role}` : ''}` };
  } catch (error) {
    return { view, note: `cannot reach the leader ${view.leader} at ${leaderUrl}: ${(error as Error).message}` };
  }
}

function fail(message: string): never {
  process.stderr.write(`ledgerctl: ${message}\n`);
  process.exit(2);
}

function show(answer: ApiAnswer): void {
  const out = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body, null, 2);
  if (answer.status >= 400) {
    process.stderr.write(`HTTP ${answer.status}\n${out}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${out}\n`);
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  let url = process.env.LEDGER_URL ?? 'http://127.0.0.1:7001';
  let token = process.env.LEDGER_TOKEN;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--url') url = argv[++i] ?? fail('--url needs a value');
    else if (arg === '--token') token = argv[++i] ?? fail('--token needs a value');
    else rest.push(arg);
  }
  const target: Target = { url, token };
  const [command, ...args] = rest;
  switch (command) {
    case 'status': {
      const seen = await leaderView(target);
      if ('status' in seen) return show(seen);
      process.stdout.write(`${seen.note === undefined ? '' : `(${seen.note})\n`}${renderStatus(seen.view)}\n`);
      return;
    }
    case 'members': {
      const [action, id, memberUrl] = args;
      if (action === 'add' && id && memberUrl) {
        return show(await call(target, 'POST', '/v1/cluster/members', { id, url: memberUrl, voter: args.includes('--voter') }));
      }
      if (action === 'remove' && id) return show(await call(target, 'DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`));
      return fail('usage: members add ID URL [--voter] | members remove ID');
    }
    case 'leadership': {
      const to = args[0] === '--to' ? args[1] : undefined;
      return show(await call(target, 'POST', '/v1/cluster/leadership', to === undefined ? {} : { to }));
    }
    case 'snapshot':
      return show(await call(target, 'POST', '/v1/cluster/snapshot', {}));
    case 'account':
    case 'transfer': {
      const id = args[0] ?? fail(`usage: ${command} ID`);
      return show(await call(target, 'GET', `/v1/${command}s/${encodeURIComponent(id)}`));
    }
    default:
      return fail(`${command === undefined ? 'no command given' : `unknown command ${command}`}\n${USAGE}`);
  }
}

if (runAsProgram(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => fail(`${(error as Error).message} (is a node listening at --url / LEDGER_URL?)`));
}
