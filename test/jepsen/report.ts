// The report of a run: throughput, latency and error rate per second, the
// fault windows from the nemesis events, availability per fault kind (share
// of client operations invoked inside that kind's windows that completed ok),
// and one self-contained HTML page (inline SVG and CSS, no external assets)
// with the checker's verdict.

import type { HistoryEvent } from './history-writer.js';

export interface FaultWindow {
  readonly window: number;
  readonly nemesis: string;
  readonly startS: number;
  readonly endS: number;
  readonly details: unknown;
}

export interface Availability {
  readonly kind: string;
  readonly windows: number;
  readonly ops: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  /** ok / ops, or null when no operation was invoked in these windows. */
  readonly okShare: number | null;
  readonly writeOkShare: number | null;
  readonly readOkShare: number | null;
}

export interface Bucket {
  readonly second: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  readonly latencyMaxMs: number | null;
}

export interface RunSummary {
  readonly totals: { readonly ops: number; readonly ok: number; readonly fail: number; readonly info: number; readonly byF: Record<string, Record<string, number>>; readonly errors: Record<string, number> };
  readonly buckets: Bucket[];
  readonly windows: FaultWindow[];
  readonly availability: Availability[];
  /** The charts' time axis: from the first client invocation (setup is left out) to the last completion, s since the run started. */
  readonly originS: number;
  readonly durationS: number;
}

interface CompletedOp {
  readonly f: string;
  readonly startS: number;
  readonly latencyMs: number;
  readonly type: 'ok' | 'fail' | 'info';
  readonly error: string | undefined;
}

const READ_KINDS = new Set(['read-balances', 'read-transfer', 'read-account-transfers', 'read-item']);
const NS_PER_S = 1e9;

/** Client operations (not setup, not the final phase) with their invocation time and latency. */
function completedOps(events: readonly HistoryEvent[], concurrency: number): CompletedOp[] {
  const open = new Map<number, HistoryEvent>();
  const ops: CompletedOp[] = [];
  for (const event of events) {
    if (event.process < 0 || event.process >= concurrency || event.phase === 'final') continue;
    if (event.type === 'invoke') {
      open.set(event.process, event);
      continue;
    }
    const invoke = open.get(event.process);
    if (!invoke) continue;
    open.delete(event.process);
    ops.push({ f: event.f, startS: invoke.time / NS_PER_S, latencyMs: (event.time - invoke.time) / 1e6, type: event.type, error: event.error });
  }
  return ops;
}

export function faultWindows(events: readonly HistoryEvent[], endS: number): FaultWindow[] {
  const windows = new Map<number, { nemesis: string; startS: number; endS: number; details: unknown }>();
  for (const event of events) {
    if (event.process !== -1) continue;
    const value = event.value as { window?: unknown; nemesis?: unknown } | null;
    if (!value || typeof value.window !== 'number' || typeof value.nemesis !== 'string') continue;
    const existing = windows.get(value.window);
    if (!existing) windows.set(value.window, { nemesis: value.nemesis, startS: event.time / NS_PER_S, endS, details: value });
    else existing.endS = event.time / NS_PER_S;
  }
  return [...windows.entries()].map(([window, w]) => ({ window, ...w }));
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

function share(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

function availabilityOf(kind: string, windowCount: number, ops: readonly CompletedOp[]): Availability {
  const count = (type: CompletedOp['type']): number => ops.filter((o) => o.type === type).length;
  const writes = ops.filter((o) => !READ_KINDS.has(o.f));
  const reads = ops.filter((o) => READ_KINDS.has(o.f));
  return {
    kind, windows: windowCount, ops: ops.length, ok: count('ok'), fail: count('fail'), info: count('info'),
    okShare: share(count('ok'), ops.length),
    writeOkShare: share(writes.filter((o) => o.type === 'ok').length, writes.length),
    readOkShare: share(reads.filter((o) => o.type === 'ok').length, reads.length),
  };
}

export function summarize(events: readonly HistoryEvent[], concurrency: number): RunSummary {
  const ops = completedOps(events, concurrency);
  const finalPhase = events.find((e) => e.process === -1 && e.f === 'final-phase');
  const lastS = Math.max(0, ...ops.map((o) => o.startS + o.latencyMs / 1000));
  const endS = finalPhase ? finalPhase.time / NS_PER_S : lastS;
  const originS = ops.length > 0 ? Math.floor(Math.min(...ops.map((o) => o.startS))) : 0;
  const durationS = Math.max(1, Math.ceil(lastS) - originS);
  const windows = faultWindows(events, endS);
  const buckets: Bucket[] = [];
  for (let second = originS; second < originS + durationS; second++) {
    const inBucket = ops.filter((o) => Math.floor(o.startS) === second);
    const latencies = inBucket.map((o) => o.latencyMs).sort((a, b) => a - b);
    buckets.push({
      second,
      ok: inBucket.filter((o) => o.type === 'ok').length,
      fail: inBucket.filter((o) => o.type === 'fail').length,
      info: inBucket.filter((o) => o.type === 'info').length,
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP99Ms: percentile(latencies, 0.99),
      latencyMaxMs: latencies.length > 0 ? (latencies[latencies.length - 1] as number) : null,
    });
  }
  const inside = (o: CompletedOp, w: FaultWindow): boolean => o.startS >= w.startS && o.startS < w.endS;
  const kinds = [...new Set(windows.map((w) => w.nemesis))].sort();
  const availability = [
    availabilityOf('no fault', 0, ops.filter((o) => !windows.some((w) => inside(o, w)))),
    ...kinds.map((kind) => {
      const ofKind = windows.filter((w) => w.nemesis === kind);
      return availabilityOf(kind, ofKind.length, ops.filter((o) => ofKind.some((w) => inside(o, w))));
    }),
  ];
  const byF: Record<string, Record<string, number>> = {};
  const errors: Record<string, number> = {};
  for (const op of ops) {
    const perF = (byF[op.f] ??= {});
    perF[op.type] = (perF[op.type] ?? 0) + 1;
    if (op.error) errors[op.error] = (errors[op.error] ?? 0) + 1;
  }
  const totals = { ops: ops.length, ok: ops.filter((o) => o.type === 'ok').length, fail: ops.filter((o) => o.type === 'fail').length, info: ops.filter((o) => o.type === 'info').length, byF, errors };
  return { totals, buckets, windows, availability, originS, durationS };
}

// ---- HTML ----

const KIND_COLOURS = ['#e41a1c', '#377eb8', '#4daf4a', '#984ea3', '#ff7f00', '#a65628', '#f781bf', '#999999', '#66c2a5', '#fc8d62', '#8da0cb', '#e78ac3', '#a6d854', '#ffd92f'];

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function colourOf(kinds: readonly string[], kind: string): string {
  return KIND_COLOURS[Math.max(0, kinds.indexOf(kind)) % KIND_COLOURS.length] as string;
}

interface Series {
  readonly label: string;
  readonly colour: string;
  readonly values: readonly (number | null)[];
}

const WIDTH = 1000;
const HEIGHT = 220;
const MARGIN = { left: 60, right: 20, top: 28, bottom: 30 };

/** A line chart over seconds with the fault windows shaded and labelled. */
function chart(title: string, unit: string, series: readonly Series[], windows: readonly FaultWindow[], kinds: readonly string[], originS: number, durationS: number): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const maxY = Math.max(1, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const x = (s: number): number => MARGIN.left + ((Math.min(Math.max(s, originS), originS + durationS) - originS) / durationS) * plotW;
  const y = (v: number): number => MARGIN.top + plotH - (v / maxY) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<text x="${MARGIN.left}" y="16" class="title">${escapeHtml(title)} (${escapeHtml(unit)})</text>`);
  for (const w of windows) {
    const x0 = x(w.startS);
    const x1 = Math.max(x0 + 2, x(w.endS));
    const colour = colourOf(kinds, w.nemesis);
    parts.push(`<rect x="${x0.toFixed(1)}" y="${MARGIN.top}" width="${(x1 - x0).toFixed(1)}" height="${plotH}" fill="${colour}" fill-opacity="0.15" stroke="${colour}" stroke-opacity="0.5"><title>${escapeHtml(`#${w.window} ${w.nemesis} ${w.startS.toFixed(1)}-${w.endS.toFixed(1)} s ${JSON.stringify(w.details)}`)}</title></rect>`);
    // Labels of neighbouring windows go on three rows so they do not overlap.
    parts.push(`<text x="${(x0 + 2).toFixed(1)}" y="${MARGIN.top + 10 + (w.window % 3) * 11}" class="wlabel" fill="${colour}">${escapeHtml(w.nemesis)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${(y(v) + 4).toFixed(1)}" class="axis" text-anchor="end">${formatNumber(v)}</text>`);
  }
  const step = Math.max(1, Math.ceil(durationS / 10 / 5) * 5);
  for (let s = Math.ceil(originS / step) * step; s <= originS + durationS; s += step) {
    parts.push(`<text x="${x(s).toFixed(1)}" y="${HEIGHT - 10}" class="axis" text-anchor="middle">${s}s</text>`);
  }
  for (const s of series) {
    const points: string[] = [];
    s.values.forEach((v, i) => {
      if (v !== null) points.push(`${x(originS + i + 0.5).toFixed(1)},${y(v).toFixed(1)}`);
    });
    parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.6" points="${points.join(' ')}"/>`);
  }
  series.forEach((s, i) => {
    const lx = WIDTH - MARGIN.right - 110 * (series.length - i);
    parts.push(`<rect x="${lx}" y="8" width="12" height="4" fill="${s.colour}"/><text x="${lx + 16}" y="14" class="axis">${escapeHtml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function formatNumber(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function percent(v: number | null): string {
  return v === null ? '-' : `${(v * 100).toFixed(1)}%`;
}

/** The clock-dependent checks a run relaxed (run.json), said next to the verdict it qualifies. */
function relaxedChecks(run: Readonly<Record<string, unknown>>): string {
  const relaxed = [
    ...(run.lease_linearizable === false ? ['lease reads not held to linearizability'] : []),
    ...(run.staleness_bounds === false ? ['stale reads not held to max_staleness_ms'] : []),
  ];
  return relaxed.length > 0 ? `<br><b>relaxed checks:</b> ${relaxed.join('; ')} (clocks beyond the drift bound; <code>--check DIR --strict</code> holds them)` : '';
}

export function renderReport(input: { readonly run: Record<string, unknown>; readonly report: { readonly valid: boolean | 'unknown' }; readonly summary: RunSummary }): string {
  const { run, report, summary } = input;
  const kinds = [...new Set(summary.windows.map((w) => w.nemesis))].sort();
  const b = summary.buckets;
  const throughput = chart('Throughput', 'ops/s by outcome, by invocation second', [
    { label: 'ok', colour: '#1a9641', values: b.map((x) => x.ok) },
    { label: 'fail', colour: '#d7191c', values: b.map((x) => x.fail) },
    { label: 'info', colour: '#fdae61', values: b.map((x) => x.info) },
  ], summary.windows, kinds, summary.originS, summary.durationS);
  const latency = chart('Latency', 'ms', [
    { label: 'p50', colour: '#2b83ba', values: b.map((x) => x.latencyP50Ms) },
    { label: 'p99', colour: '#abdda4', values: b.map((x) => x.latencyP99Ms) },
    { label: 'max', colour: '#5e3c99', values: b.map((x) => x.latencyMaxMs) },
  ], summary.windows, kinds, summary.originS, summary.durationS);
  const errorRate = chart('Error rate', '% of ops not ok', [
    { label: 'fail+info', colour: '#d7191c', values: b.map((x) => (x.ok + x.fail + x.info === 0 ? null : (100 * (x.fail + x.info)) / (x.ok + x.fail + x.info))) },
  ], summary.windows, kinds, summary.originS, summary.durationS);
  const verdict = report.valid === true ? 'valid' : report.valid === false ? 'INVALID' : 'unknown';
  const verdictClass = report.valid === true ? 'ok' : report.valid === false ? 'bad' : 'unknown';
  const availabilityRows = summary.availability
    .map((a) => `<tr><td><span class="swatch" style="background:${a.kind === 'no fault' ? '#fff' : colourOf(kinds, a.kind)}"></span>${escapeHtml(a.kind)}</td><td>${a.windows}</td><td>${a.ops}</td><td>${a.ok}</td><td>${a.fail}</td><td>${a.info}</td><td><b>${percent(a.okShare)}</b></td><td>${percent(a.writeOkShare)}</td><td>${percent(a.readOkShare)}</td></tr>`)
    .join('\n');
  const windowRows = summary.windows
    .map((w) => `<tr><td>${w.window}</td><td>${escapeHtml(w.nemesis)}</td><td>${w.startS.toFixed(1)}</td><td>${w.endS.toFixed(1)}</td><td><code>${escapeHtml(JSON.stringify(w.details))}</code></td></tr>`)
    .join('\n');
  const fRows = Object.entries(summary.totals.byF)
    .map(([f, c]) => `<tr><td>${escapeHtml(f)}</td><td>${c.ok ?? 0}</td><td>${c.fail ?? 0}</td><td>${c.info ?? 0}</td></tr>`)
    .join('\n');
  const errorRows = Object.entries(summary.totals.errors)
    .sort((x, y) => y[1] - x[1])
    .map(([code, n]) => `<tr><td><code>${escapeHtml(code)}</code></td><td>${n}</td></tr>`)
    .join('\n');
  const checkerJson = JSON.stringify(report, null, 2);
  const shownJson = checkerJson.length > 200_000 ? `${checkerJson.slice(0, 200_000)}\n... (truncated; see report.json)` : checkerJson;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>raft-ledger jepsen run seed ${escapeHtml(String(run.seed))}: ${verdict}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;max-width:1040px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;font-weight:bold}
.ok{background:#d9f2d9;color:#145214}.bad{background:#f8d0d0;color:#8a1010}.unknown{background:#eee;color:#555}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
td code{white-space:pre-wrap;word-break:break-all;font-size:11px;display:block;text-align:left;max-width:560px}
.swatch{display:inline-block;width:10px;height:10px;border:1px solid #999;margin-right:6px;opacity:.6}
svg{display:block;margin:6px 0;border:1px solid #eee}svg .title{font-size:13px;font-weight:bold}svg .axis{font-size:11px;fill:#555}
svg .wlabel{font-size:10px;font-weight:bold}svg .grid{stroke:#eee}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:480px;font-size:12px}
</style></head><body>
<h1>raft-ledger Jepsen-style run</h1>
<p>Verdict: <span class="verdict ${verdictClass}">${verdict}</span>
&nbsp; seed <b>${escapeHtml(String(run.seed))}</b>, ${escapeHtml(String(run.nodes))} nodes, workload <b>${escapeHtml(String(run.workload))}</b>,
${escapeHtml(String(run.concurrency))} clients, ${escapeHtml(String(run.time_limit_s))} s, nemeses: ${escapeHtml((run.nemeses as string[] | undefined)?.join(', ') || 'none')}
${Object.keys((run.skipped_nemeses as object | undefined) ?? {}).length > 0 ? `<br>skipped: <code>${escapeHtml(JSON.stringify(run.skipped_nemeses))}</code>` : ''}
${relaxedChecks(run)}${run.error ? `<br><b>run error:</b> <code>${escapeHtml(String(run.error))}</code>` : ''}</p>
<p>${summary.totals.ops} client operations: ${summary.totals.ok} ok, ${summary.totals.fail} fail, ${summary.totals.info} info (unknown outcome). Time axis: seconds since the run started (the cluster start and setup come before the first operation). Shaded bands are fault windows (hover for details).</p>
${throughput}
${latency}
${errorRate}
<h2>Availability per fault kind</h2>
<p>Operations invoked inside the windows of each kind; "ok" is the share that completed ok.</p>
<table><tr><th>fault kind</th><th>windows</th><th>ops</th><th>ok</th><th>fail</th><th>info</th><th>ok share</th><th>writes ok</th><th>reads ok</th></tr>
${availabilityRows}</table>
<h2>Fault windows</h2>
<table><tr><th>#</th><th>nemesis</th><th>start s</th><th>end s</th><th>details</th></tr>
${windowRows}</table>
<h2>Operations by kind</h2>
<table><tr><th>f</th><th>ok</th><th>fail</th><th>info</th></tr>
${fRows}</table>
<h2>Errors</h2>
<table><tr><th>code</th><th>count</th></tr>
${errorRows}</table>
<h2>Checker</h2>
<pre>${escapeHtml(shownJson)}</pre>
</body></html>
`;
}
