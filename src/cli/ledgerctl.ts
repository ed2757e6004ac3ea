#!/usr/bin/env node
// ledgerctl: the operator's command line, a client of the HTTP API.
//
//   ledgerctl [--url URL] [--token T] status
//   ledgerctl members add ID URL [--voter] | members remove ID
//   ledgerctl leadership [--to ID]
//   ledgerctl snapshot
//   ledgerctl account ID | transfer ID
//
// LEDGER_URL and LEDGER_TOKEN stand in for --url and --token.

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

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
  members: { id: string; url?: string; voter: boolean; match_index?: number; lag_entries?: number; last_contact_ms?: number }[];
}

/** Renders the cluster as seen by the node asked, with the leader's lag figures when asked through the leader. */
export function renderStatus(view: ClusterView): string {
  const lines = [
    `node ${view.id}: ${view.role}, term ${view.term}, leader ${view.leader || '(none)'}`,
    `commit ${view.commit_index}, applied ${view.applied_index}, last log ${view.last_log_index}, snapshot ${view.snapshot_index}`,
    '',
  ];
  const rows = [['MEMBER', 'ROLE', 'MATCH', 'LAG (entries)', 'LAST CONTACT', 'URL']];
  for (const m of view.members) {
    rows.push([
      m.id + (m.id === view.leader ? ' *' : ''),
      m.voter ? 'voter' : 'learner',
      m.match_index === undefined ? '-' : String(m.match_index),
      m.lag_entries === undefined ? '-' : String(m.lag_entries),
      m.last_contact_ms === undefined ? '-' : `${m.last_contact_ms} ms`,
      m.url ?? '-',
    ]);
  }
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  for (const row of rows) lines.push(row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd());
  if (view.role !== 'leader') lines.push('', '(match, lag and contact are known on the leader: ask it with --url for the figures)');
  return lines.join('\n');
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
      const answer = await call(target, 'GET', '/v1/cluster');
      if (answer.status !== 200) return show(answer);
      process.stdout.write(`${renderStatus(answer.body as ClusterView)}\n`);
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
      return fail('usage: ledgerctl [--url URL] [--token T] status | members add ID URL [--voter] | members remove ID | leadership [--to ID] | snapshot | account ID | transfer ID');
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => fail((error as Error).message));
}
