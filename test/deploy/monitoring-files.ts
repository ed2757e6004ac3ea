// What the deploy tests need to know about the monitoring files: the metrics
// the node really registers (from a live NodeMetrics, so a renamed metric or
// label breaks the checks), the metric and label names a PromQL expression
// uses, the alert rules of deploy/prometheus/alerts.yml, and running promtool.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeMetrics } from '../../src/node/metrics.js';

/** The repository root, found from the compiled file in dist/test/deploy/. */
export const repoRoot = ((): string => {
  for (const up of ['../..', '../../..']) {
    const candidate = fileURLToPath(new URL(`${up}/`, import.meta.url));
    if (existsSync(join(candidate, 'package.json')) && existsSync(join(candidate, 'deploy'))) return candidate;
  }
  throw new Error(`repository root not found above ${import.meta.url}`);
})();

export const deployPath = (...parts: string[]): string => join(repoRoot, 'deploy', ...parts);
export const readRepoFile = (relative: string): string => readFileSync(join(repoRoot, relative), 'utf8');

/** Series names a metric exposes: a histogram's _bucket, _sum and _count. */
function seriesNames(name: string, type: string): string[] {
  return type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
}

export interface ExportedMetrics {
  /** Every series name a node exposes (ours and prom-client's defaults). */
  readonly series: ReadonlySet<string>;
  /** Label names any of our series may carry, with the ones Prometheus adds. */
  readonly labels: ReadonlySet<string>;
  /** Our own metric names (without the default process metrics). */
  readonly own: readonly string[];
}

/** Builds a NodeMetrics over a fixed source and reads its registry. */
export async function exportedMetrics(): Promise<ExportedMetrics> {
  const metrics = new NodeMetrics('n1', {
    term: () => 1,
    isLeader: () => true,
    commitIndex: () => 10,
    appliedIndex: () => 10,
    lastLogIndex: () => 10,
    snapshotIndex: () => 0,
    peers: () => [{ peer: 'n2', matchIndex: 10, lagEntries: 0, lagSeconds: 0, lastContactSeconds: 0 }],
    walCheckpoints: () => ({ checkpoints: 3, failures: 0 }),
    peerLinks: () => [{ peer: 'n2', queuedMessages: 0, sentRequests: 5, sentMessages: 9, droppedMessages: 0, failedRequests: 0 }],
  });
  const json = await metrics.registry.getMetricsAsJSON();
  const series = new Set<string>();
  const labels = new Set<string>(['node', 'job', 'instance', 'le']);
  const own: string[] = [];
  for (const metric of json) {
    for (const name of seriesNames(metric.name, String(metric.type))) series.add(name);
    if (/^(raft|ledger|http)_/.test(metric.name)) own.push(metric.name);
    const single = metrics.registry.getSingleMetric(metric.name) as { labelNames?: readonly string[] } | undefined;
    for (const label of single?.labelNames ?? []) labels.add(label);
  }
  return { series, labels, own };
}

/** Series from outside the node that our rules may use: Prometheus's own and node_exporter's. */
export const EXTERNAL_SERIES: ReadonlySet<string> = new Set([
  'up',
  'node_filesystem_avail_bytes',
  'node_filesystem_size_bytes',
  'node_filesystem_readonly',
]);
export const EXTERNAL_LABELS: ReadonlySet<string> = new Set(['mountpoint', 'fstype', 'device']);

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

export interface ExpressionNames {
  readonly metrics: string[];
  readonly labels: string[];
}

/** The metric names and label names a PromQL expression refers to (a lexical scan, enough for our own files). */
export function namesInExpression(expr: string): ExpressionNames {
  const labels: string[] = [];
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  rest = rest.replace(/\{([^}]*)\}/g, (_, inside: string) => {
    for (const m of inside.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(m[1] as string);
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ');
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw: string, list: string) => {
    for (const label of list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) labels.push(label);
    return ' ';
  });
  const metrics: string[] = [];
  for (const m of rest.matchAll(/(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const name = m[1] as string;
    if (m[2] !== undefined || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    metrics.push(name);
  }
  return { metrics, labels };
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly fields: ReadonlyMap<string, string>;
  /** `{{ $labels.x }}` names used in the annotations. */
  readonly templateLabels: readonly string[];
}

/** Reads a YAML block scalar or plain value that starts on `lines[at]` after `key:`. */
function valueAt(lines: readonly string[], at: number, key: string): string {
  const line = lines[at] as string;
  const indent = line.length - line.trimStart().length;
  const inline = line.slice(line.indexOf(`${key}:`) + key.length + 1).trim();
  if (!/^[>|]-?$/.test(inline)) return inline.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  const body: string[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const next = lines[i] as string;
    if (next.trim() !== '' && next.length - next.trimStart().length <= indent) break;
    body.push(next.trim());
  }
  return body.join(inline.startsWith('|') ? '\n' : ' ').trim();
}

/**
 * The alerting rules of alerts.yml. A line-based reader of the layout that
 * file keeps (one `- alert:` per rule, keys one per line), so that the tests
 * need no YAML dependency; promtool checks the YAML itself.
 */
export function parseAlertRules(text: string): AlertRule[] {
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (/^\s*- alert:\s*\S/.test(line) ? [i] : []));
  return starts.map((start, n) => {
    const end = starts[n + 1] ?? lines.length;
    const fields = new Map<string, string>();
    for (let i = start; i < end; i++) {
      const key = /^\s*(?:- )?([a-z_]+):/.exec(lines[i] as string)?.[1];
      if (key !== undefined && !fields.has(key)) fields.set(key, valueAt(lines, i, key));
    }
    const annotations = ['summary', 'description'].map((k) => fields.get(k) ?? '').join(' ');
    return {
      alert: fields.get('alert') ?? '',
      expr: fields.get('expr') ?? '',
      fields,
      templateLabels: [...annotations.matchAll(/\$labels\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string),
    };
  });
}

/** GitHub's anchor for a Markdown heading: lower case, spaces to dashes, punctuation dropped. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    anchors.add((m[1] as string).toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-'));
  }
  return anchors;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export interface InstallOutcome {
  readonly ok: boolean;
  /** Set when Prometheus cannot be installed on this machine (not an error of ours). */
  readonly skipReason?: string;
  readonly output: string;
}

/** Runs scripts/prometheus-install.sh (quick when already installed); exit 77 means "cannot here". */
export function installPrometheus(): InstallOutcome {
  const run = spawnSync('bash', [join(repoRoot, 'scripts', 'prometheus-install.sh')], { encoding: 'utf8', timeout: 300_000 });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.status === 0) return { ok: true, output };
  if (run.status === 77) return { ok: false, skipReason: output || 'prometheus-install.sh: cannot install here', output };
  return { ok: false, output: `prometheus-install.sh exited ${run.status ?? run.signal}: ${output}` };
}

export interface CommandResult {
  readonly status: number | null;
  readonly output: string;
}

export function runCommand(command: string, args: readonly string[], cwd: string): CommandResult {
  const run = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, output: `${run.stdout ?? ''}${run.stderr ?? ''}` };
}
