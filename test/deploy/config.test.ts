// The monitoring files hold together: every query of the Grafana dashboard and
// every alert rule names metrics and labels that the node really exports (read
// from a live NodeMetrics), every alert has a severity, a summary, a
// description and a runbook section in docs/operations.md, and promtool accepts
// the config and rules and passes the rule unit tests, which in turn fail when
// a tested alert can no longer fire.

import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  EXTERNAL_LABELS,
  EXTERNAL_SERIES,
  deployPath,
  exportedMetrics,
  hasCommand,
  headingAnchors,
  installPrometheus,
  namesInExpression,
  parseAlertRules,
  readRepoFile,
  runCommand,
  type ExportedMetrics,
} from './monitoring-files.js';
import { temporaryDirectory } from '../support/helpers.js';

interface GrafanaTarget {
  refId?: unknown;
  expr?: unknown;
  datasource?: unknown;
}
interface GrafanaPanel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  gridPos?: { h?: unknown; w?: unknown; x?: unknown; y?: unknown };
  datasource?: unknown;
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}
interface GrafanaDashboard {
  uid?: unknown;
  title?: unknown;
  schemaVersion?: unknown;
  panels?: GrafanaPanel[];
  templating?: { list?: { name?: unknown; type?: unknown }[] };
}

const exported = await exportedMetrics();
const dashboard = JSON.parse(readFileSync(deployPath('grafana', 'dashboards', 'raft-ledger.json'), 'utf8')) as GrafanaDashboard;
const rules = parseAlertRules(readFileSync(deployPath('prometheus', 'alerts.yml'), 'utf8'));
const operations = readRepoFile('docs/operations.md');

/** Problems with the names an expression uses; empty when all exist. */
function unknownNames(expr: string, metrics: ExportedMetrics): string[] {
  const { metrics: used, labels } = namesInExpression(expr);
  const problems: string[] = [];
  if (used.length === 0) problems.push(`no metric in ${expr}`);
  for (const name of used) if (!metrics.series.has(name) && !EXTERNAL_SERIES.has(name)) problems.push(`unknown metric ${name}`);
  for (const label of labels) if (!metrics.labels.has(label) && !EXTERNAL_LABELS.has(label)) problems.push(`unknown label ${label}`);
  return problems;
}

t.test('the node exports the metrics the issue names, with node and peer labels', async (t) => {
  for (const name of [
    'raft_term', 'raft_is_leader', 'raft_commit_index', 'raft_applied_index', 'raft_last_log_index', 'raft_snapshot_index',
    'raft_leader_changes_total', 'raft_elections_total', 'raft_follower_match_index', 'raft_replication_lag_entries',
    'raft_replication_lag_seconds', 'raft_peer_last_contact_seconds', 'raft_proposal_commit_seconds_bucket',
    'raft_append_entries_seconds_bucket', 'raft_wal_fsync_seconds_bucket', 'ledger_apply_seconds_bucket',
    'raft_follower_apply_lag_entries', 'ledger_read_staleness_seconds_bucket', 'ledger_transfers_total',
    'ledger_reservations_total', 'http_request_duration_seconds_count', 'process_cpu_seconds_total',
  ]) {
    t.ok(exported.series.has(name), `${name} is exported`);
  }
  for (const label of ['node', 'peer', 'result', 'route', 'method', 'status']) t.ok(exported.labels.has(label), `label ${label}`);
});

t.test('the PromQL scan finds metric and label names, and flags unknown ones', async (t) => {
  const expr = 'histogram_quantile(0.99, sum by (node, le) (rate(raft_wal_fsync_seconds_bucket{job="raft-ledger", node=~"$node"}[$__rate_interval]))) > 0.05';
  t.same(namesInExpression(expr), { metrics: ['raft_wal_fsync_seconds_bucket'], labels: ['job', 'node', 'node', 'le'] });
  t.same(namesInExpression('a_total and on(x) b or vector(0)'), { metrics: ['a_total', 'b'], labels: ['x'] });
  t.same(unknownNames('rate(raft_wal_fsync_seconds_sum[1m]) / raft_wal_fsync_count', exported), ['unknown metric raft_wal_fsync_count']);
  t.same(unknownNames('sum by (shard) (raft_term)', exported), ['unknown label shard']);
});

t.test('the dashboard is a provisionable Grafana dashboard whose queries use exported metrics', async (t) => {
  t.equal(dashboard.uid, 'raft-ledger-overview');
  t.type(dashboard.title, 'string');
  t.type(dashboard.schemaVersion, 'number');
  const variables = (dashboard.templating?.list ?? []).map((v) => v.name);
  t.ok(variables.includes('datasource') && variables.includes('node'), 'datasource and node variables');
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = new Set<unknown>();
  const queried = new Set<string>();
  for (const panel of panels) {
    t.ok(!ids.has(panel.id), `panel id ${String(panel.id)} is unique`);
    ids.add(panel.id);
    const where = `panel "${String(panel.title)}"`;
    const grid = panel.gridPos ?? {};
    t.ok([grid.h, grid.w, grid.x, grid.y].every((n) => typeof n === 'number'), `${where} has a gridPos`);
    t.ok((grid.x as number) + (grid.w as number) <= 24, `${where} fits the 24-column grid`);
    if (panel.type === 'row') continue;
    t.ok(Array.isArray(panel.targets) && panel.targets.length > 0, `${where} has targets`);
    t.same(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `${where} uses the datasource variable`);
    for (const target of panel.targets ?? []) {
      t.type(target.refId, 'string', `${where} target has a refId`);
      t.type(target.expr, 'string', `${where} target has an expr`);
      const expr = String(target.expr);
      t.same(unknownNames(expr, exported), [], `${where}: ${expr}`);
      for (const name of namesInExpression(expr).metrics) queried.add(name);
    }
  }
  // The panels the issue asks for, by the series they must show.
  for (const name of [
    'raft_replication_lag_entries', 'raft_replication_lag_seconds', 'raft_commit_index', 'raft_applied_index', 'raft_term',
    'raft_leader_changes_total', 'raft_proposal_commit_seconds_bucket', 'raft_wal_fsync_seconds_bucket',
    'http_request_duration_seconds_count', 'ledger_transfers_total',
  ]) {
    t.ok(queried.has(name), `a panel queries ${name}`);
  }
});

t.test('the Grafana provisioning points at the dashboard folder and the datasource uid', async (t) => {
  const datasource = readFileSync(deployPath('grafana', 'provisioning', 'datasources', 'raft-ledger.yml'), 'utf8');
  t.match(datasource, /uid: raft-ledger-prometheus/);
  t.match(datasource, /type: prometheus/);
  const provider = readFileSync(deployPath('grafana', 'provisioning', 'dashboards', 'raft-ledger.yml'), 'utf8');
  t.match(provider, /path: \/var\/lib\/grafana\/dashboards\/raft-ledger/);
  t.match(operations, /deploy\/grafana\/dashboards:\/var\/lib\/grafana\/dashboards\/raft-ledger/, 'the docs mount the JSON where the provider looks');
  const variable = (dashboard.templating?.list ?? []).find((v) => v.name === 'datasource') as { current?: { value?: unknown } } | undefined;
  t.equal(variable?.current?.value, 'raft-ledger-prometheus', 'the dashboard defaults to the provisioned datasource');
});

t.test('every alert has severity, summary, description and a runbook section, and uses exported metrics', async (t) => {
  const anchors = headingAnchors(operations);
  t.ok(rules.length >= 10, `${rules.length} alerts read`);
  for (const rule of rules) {
    const f = rule.fields;
    t.match(f.get('severity') ?? '', /^(critical|warning|info)$/, `${rule.alert} severity`);
    t.ok((f.get('summary') ?? '').length > 0, `${rule.alert} summary`);
    t.ok((f.get('description') ?? '').length > 0, `${rule.alert} description`);
    const anchor = rule.alert.toLowerCase();
    t.equal(f.get('runbook_url'), `docs/operations.md#${anchor}`, `${rule.alert} runbook_url`);
    t.ok(anchors.has(anchor), `docs/operations.md has a section ${rule.alert}`);
    t.same(unknownNames(rule.expr, exported), [], `${rule.alert}: ${rule.expr}`);
    for (const label of rule.templateLabels) {
      t.ok(exported.labels.has(label) || EXTERNAL_LABELS.has(label), `${rule.alert} annotation label ${label}`);
    }
  }
  const names = rules.map((r) => r.alert);
  for (const name of ['RaftNoLeader', 'RaftLeaderFlapping', 'RaftReplicationLagEntriesHigh', 'RaftReplicationLagSecondsHigh',
    'RaftFollowerUnreachable', 'RaftNodeDown', 'RaftSlowFsync', 'LedgerApplyFallingBehind', 'LedgerDiskNearlyFull']) {
    t.ok(names.includes(name), `alert ${name} exists`);
  }
});

t.test('prometheus.yml scrapes the three local nodes as job raft-ledger and loads the rules', async (t) => {
  const config = readFileSync(deployPath('prometheus', 'prometheus.yml'), 'utf8');
  t.match(config, /job_name: raft-ledger/);
  for (const port of [7001, 7002, 7003]) t.match(config, `'127.0.0.1:${port}'`);
  t.match(config, /rule_files:\s*\n\s*- alerts\.yml/);
});

// promtool: installed by scripts/prometheus-install.sh where the machine allows.
const install = hasCommand('promtool') ? { ok: true, output: '' } : installPrometheus();
const promtoolSkip = install.ok ? false : `promtool unavailable: ${install.skipReason ?? install.output}`;
if (!install.ok && install.skipReason === undefined) t.fail(`installing Prometheus failed: ${install.output}`);

t.test('promtool accepts the config and the rules, and the rule unit tests pass', { skip: promtoolSkip }, async (t) => {
  const dir = deployPath('prometheus');
  for (const args of [['check', 'config', 'prometheus.yml'], ['check', 'rules', 'alerts.yml'], ['test', 'rules', 'alerts.test.yml']]) {
    const run = runCommand('promtool', args, dir);
    t.equal(run.status, 0, `promtool ${args.join(' ')}\n${run.output}`);
  }
});

t.test('the rule unit tests fail when a tested alert can no longer fire', { skip: promtoolSkip }, async (t) => {
  const original = readFileSync(deployPath('prometheus', 'alerts.yml'), 'utf8');
  const work = temporaryDirectory(t, 'alerts-mutant');
  copyFileSync(deployPath('prometheus', 'alerts.test.yml'), join(work, 'alerts.test.yml'));
  for (const rule of ['RaftNoLeader', 'RaftReplicationLagEntriesHigh', 'RaftReplicationLagSecondsHigh', 'RaftLeaderFlapping']) {
    // Replace only this rule's expression (inline or folded) by one that never fires.
    const mutated = original.replace(
      new RegExp(`(- alert: ${rule}\\n(?:\\s*#.*\\n)*(\\s*)expr: )(?:>-\\n(?:\\2\\s+.*\\n)+|.*\\n)`),
      '$1vector(0) > 1\n',
    );
    t.not(mutated, original, `${rule}'s expression was replaced`);
    writeFileSync(join(work, 'alerts.yml'), mutated);
    t.equal(runCommand('promtool', ['check', 'rules', 'alerts.yml'], work).status, 0, 'the mutant is still valid');
    const run = runCommand('promtool', ['test', 'rules', 'alerts.test.yml'], work);
    t.not(run.status, 0, `promtool test rules notices that ${rule} never fires`);
    t.match(run.output, `alertname: ${rule}`, `the failure names ${rule}`);
  }
});
