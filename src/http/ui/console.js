// The operator console (docs/ui.md): plain script, no framework, no build.
// Every value shown comes from the API and is user-controlled (ids,
// metadata), so it only ever reaches the page as text (textContent, or an
// attribute set with setAttribute), never as HTML. Every call to /v1 carries
// the token entered once (sessionStorage: gone when the tab closes).
'use strict';

const TOKEN_KEY = 'raft-ledger-token';
const POLL_MS = 1000;
const FEED_ROWS = 50;
const LEADER_CHANGES_SHOWN = 20;
/** The feed starts this many entries back, so it shows recent transfers at once without replaying the whole ledger. */
const FEED_BACKLOG_ENTRIES = 500;
const RECONNECT_MS = 1000;
const LOOKUP_HEADERS = ['x-served-by', 'x-raft-index', 'x-raft-term', 'x-raft-leader', 'x-staleness-ms', 'x-raft-lag-entries', 'x-ledger-forwarded-by'];

const $ = (id) => document.getElementById(id);

/** An element with text children only: strings become text nodes, never markup. */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child === null || child === undefined ? '' : String(child)));
  return node;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (token() !== '') headers.authorization = `Bearer ${token()}`;
  return headers;
}

function setStatus(text, isError) {
  const line = $('status-line');
  line.textContent = text;
  line.className = isError ? 'error' : '';
}

/** GET a JSON answer of the API; throws an Error naming the code and message of an error answer. */
async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders({ accept: 'application/json' }), cache: 'no-store' });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: String(response.status), message: response.statusText };
    const failure = new Error(`${response.status} ${error.code}: ${error.message}`);
    failure.status = response.status;
    throw failure;
  }
  return { body, headers: response.headers };
}

// ---- token ----

function showTokenState() {
  $('token-state').textContent = token() === '' ? 'no token set' : 'token set for this tab';
}

function setupToken() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (value === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
    $('token').value = '';
    showTokenState();
    feed.restart();
    pollCluster();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    feed.restart();
  });
  showTokenState();
}

// ---- members and leader changes ----

/** Leader changes by term: reported by the nodes (GET /v1/cluster's leader_changes) or seen by this page between two polls. */
const leaderChanges = new Map();
let lastLeader = { id: undefined, term: -1 };

/** The answering node that says it leads with the highest term: its members carry the replication progress. */
function leaderView(nodes) {
  let best;
  for (const node of nodes) {
    const status = node.status;
    if (status && status.role === 'leader' && (!best || status.term > best.term)) best = status;
  }
  return best;
}

/** The leader as the answering nodes report it: the one named with the highest term. */
function observedLeader(nodes) {
  let best = { id: undefined, term: -1 };
  for (const node of nodes) {
    const status = node.status;
    if (status && status.leader !== null && status.term > best.term) best = { id: status.leader, term: status.term };
  }
  return best;
}

function noteChange(term, leader, atMs, source) {
  const known = leaderChanges.get(term);
  if (known === undefined) leaderChanges.set(term, { term, leader, atMs, sources: new Set([source]) });
  else {
    known.sources.add(source);
    // The earliest time any node (or the page) saw it.
    known.atMs = Math.min(known.atMs, atMs);
  }
}

function noteLeaders(nodes) {
  for (const node of nodes) {
    for (const change of (node.status && node.status.leader_changes) || []) noteChange(change.term, change.leader, change.at_ms, node.id);
  }
  const seen = observedLeader(nodes);
  if (seen.id !== undefined && seen.term > lastLeader.term) {
    noteChange(seen.term, seen.id, Date.now(), lastLeader.id === undefined ? 'page (when it opened)' : 'page');
    lastLeader = seen;
  }
  const newest = [...leaderChanges.values()].sort((a, b) => b.term - a.term).slice(0, LEADER_CHANGES_SHOWN);
  $('leader-changes').replaceChildren(...newest.map((change, i) => {
    const previous = newest[i + 1];
    return el('li', { 'data-term': change.term, 'data-leader': change.leader },
      `${new Date(change.atMs).toLocaleTimeString()}: term ${change.term}, leader ${change.leader}`,
      previous === undefined ? '' : ` (after ${previous.leader}, term ${previous.term})`,
      `; seen by ${[...change.sources].sort().join(', ')}`);
  }));
  $('leader-changes-total').textContent = `${leaderChanges.size} leader(s) known; the current one is ${lastLeader.id === undefined ? 'unknown' : lastLeader.id}`;
}

const cell = (field, value, numeric) => el('td', Object.assign({ 'data-field': field }, numeric ? { class: 'number' } : {}), value);
const seconds = (ms) => (ms === null || ms === undefined ? '-' : (ms / 1000).toFixed(1));
const orDash = (value) => (value === null || value === undefined ? '-' : value);

function memberRow(node, progress) {
  const status = node.status;
  const lagging = progress && (progress.lag_entries > 0 || progress.lag_ms > 0);
  const row = el('tr', { 'data-node': node.id, class: !status ? 'silent' : status.role === 'leader' ? 'leader' : lagging ? 'lagging' : '' },
    cell('id', node.id),
    cell('url', orDash(node.url)),
    cell('role', status ? status.role : '-'),
    cell('term', status ? status.term : '-', true),
    cell('commit', status ? status.commit_index : '-', true),
    cell('applied', status ? status.applied_index : '-', true),
    cell('match', orDash(progress && progress.match_index), true),
    cell('lag-entries', orDash(progress && progress.lag_entries), true),
    cell('lag-seconds', seconds(progress && progress.lag_ms), true),
    cell('last-contact-seconds', seconds(progress && progress.last_contact_ms), true),
    cell('state', node.error ? `${node.error.code}: ${node.error.message}` : 'answering'));
  return row;
}

let polling = false;

async function pollCluster() {
  if (polling) return;
  polling = true;
  try {
    const { body, headers } = await getJson('/v1/cluster/nodes');
    const leader = leaderView(body.nodes);
    const progressOf = (id) => (leader ? leader.members.find((member) => member.id === id) : undefined);
    $('members').tBodies[0].replaceChildren(...body.nodes.map((node) => memberRow(node, progressOf(node.id))));
    noteLeaders(body.nodes);
    setStatus(`served by ${headers.get('x-served-by') || '?'}; updated ${new Date().toLocaleTimeString()}${leader ? '' : '; no member says it leads'}`, false);
  } catch (error) {
    setStatus(`cluster: ${error.message}${error.status === 401 || error.status === 403 ? ' (enter a token with the read scope)' : ''}`, true);
  } finally {
    polling = false;
  }
}

// ---- lookup ----

function setupLookup() {
  $('lookup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void lookup();
  });
}

function keyValueRows(entries) {
  return entries.map(([key, value]) => el('tr', { 'data-key': key }, el('th', {}, key),
    el('td', {}, typeof value === 'object' && value !== null ? JSON.stringify(value) : orDash(value))));
}

async function lookup() {
  const kind = $('lookup-kind').value;
  const id = $('lookup-id').value.trim();
  const consistency = $('lookup-consistency').value;
  const maxStaleness = $('lookup-max-staleness').value.trim();
  const query = new URLSearchParams({ consistency });
  if (consistency === 'stale' && maxStaleness !== '') query.set('max_staleness_ms', maxStaleness);
  const path = `/v1/${kind === 'account' ? 'accounts' : 'transfers'}/${encodeURIComponent(id)}?${query}`;
  const answer = $('lookup-answer').tBodies[0];
  const shown = $('lookup-headers').tBodies[0];
  answer.replaceChildren();
  shown.replaceChildren();
  try {
    const { body, headers } = await getJson(path);
    answer.replaceChildren(...keyValueRows(Object.entries(body)));
    const sent = LOOKUP_HEADERS.filter((name) => headers.get(name) !== null).map((name) => [name, headers.get(name)]);
    shown.replaceChildren(...keyValueRows([['consistency', consistency], ...(query.has('max_staleness_ms') ? [['max_staleness_ms', maxStaleness]] : []), ...sent]));
  } catch (error) {
    answer.replaceChildren(el('tr', { 'data-key': 'error' }, el('th', {}, 'error'), el('td', { class: 'error' }, error.message)));
    shown.replaceChildren(...keyValueRows([['consistency', consistency]]));
  }
}

// ---- live feed of transfers (GET /v1/events) ----

/**
 * Follows the event stream with fetch, which (unlike EventSource) can send
 * the Authorization header; resumes after a dropped connection with
 * Last-Event-ID, as the server documents.
 */
class TransferFeed {
  constructor() {
    this.lastEventId = undefined;
    this.controller = undefined;
    this.generation = 0;
    this.rows = [];
  }

  restart() {
    this.generation++;
    if (this.controller) this.controller.abort();
    void this.follow(this.generation);
  }

  state(text, isError) {
    const node = $('feed-state');
    node.textContent = text;
    node.className = isError ? 'error' : '';
  }

  async follow(generation) {
    while (generation === this.generation) {
      try {
        await this.connect(generation);
        this.state('the stream ended; reconnecting', true);
      } catch (error) {
        if (generation !== this.generation) return;
        this.state(`${error.message}; reconnecting`, true);
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  }

  async startIndex() {
    const { body } = await getJson('/v1/cluster');
    return Math.max(0, body.applied_index - FEED_BACKLOG_ENTRIES);
  }

  async connect(generation) {
    const headers = authHeaders({ accept: 'text/event-stream' });
    let path = '/v1/events';
    if (this.lastEventId === undefined) path += `?from_index=${await this.startIndex()}`;
    else headers['last-event-id'] = this.lastEventId;
    this.controller = new AbortController();
    const response = await fetch(path, { headers, signal: this.controller.signal, cache: 'no-store' });
    if (!response.ok) {
      const body = await response.json().catch(() => undefined);
      const error = body && body.error ? body.error : { code: String(response.status), message: response.statusText };
      throw new Error(`events: ${response.status} ${error.code}: ${error.message}`);
    }
    this.state(`following from ${response.headers.get('x-served-by') || 'this node'}`, false);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || generation !== this.generation) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        this.take(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  /** One server-sent event: `id:` and `data:` lines (comments start with ':'). */
  take(block) {
    let id;
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0) return;
    if (id !== undefined) this.lastEventId = id;
    const event = JSON.parse(data.join('\n'));
    if (event.kind !== 'transfer_created' && event.kind !== 'transfer_status_changed') return;
    this.rows.unshift({ id, event });
    this.rows.length = Math.min(this.rows.length, FEED_ROWS);
    this.render();
  }

  render() {
    $('transfers').tBodies[0].replaceChildren(...this.rows.map(({ id, event }) => {
      const record = event.record;
      return el('tr', { 'data-event-id': id, 'data-transfer': record.id },
        cell('index', event.index, true), cell('event', event.kind === 'transfer_created' ? 'created' : 'status changed'), cell('id', record.id),
        cell('debit', record.debit_account_id), cell('credit', record.credit_account_id), cell('amount', record.amount, true),
        cell('ledger', record.ledger), cell('status', record.status));
    }));
  }
}

const feed = new TransferFeed();

document.addEventListener('DOMContentLoaded', () => {
  setupToken();
  setupLookup();
  feed.restart();
  void pollCluster();
  setInterval(() => void pollCluster(), POLL_MS);
});
