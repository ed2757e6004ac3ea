// ledgerd's configuration: every flag has an environment variable, a zod
// schema validates the merged result once, and the frozen value is what the
// rest of the program reads. Errors name the flag and the variable.

import { z } from 'zod';
import { leaseTooShort } from './raft/config.js';

export const tokenScopeSchema = z.enum(['read', 'write', 'admin']);
export type TokenScope = z.infer<typeof tokenScopeSchema>;

const nodeIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'node ids are 1..64 chars of [A-Za-z0-9_.:-]');
/** Names a cluster; recorded in each member's data directory (src/storage/identity.ts). */
export const clusterIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'cluster ids are 1..64 chars of [A-Za-z0-9_.:-]');
const urlSchema = z.url({ protocol: /^https?$/ });
const hostPortSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7001')
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be 0..65535');

export const configSchema = z
  .strictObject({
    id: nodeIdSchema,
    listen: hostPortSchema,
    peerListen: hostPortSchema.optional(),
    data: z.string().min(1),
    peers: z.map(nodeIdSchema, urlSchema),
    join: urlSchema.optional(),
    clusterSecret: z.string().min(16, 'the cluster secret must be at least 16 characters').optional(),
    clusterId: clusterIdSchema.optional(),
    insecure: z.boolean(),
    tokens: z.map(z.string().min(16, 'tokens must be at least 16 characters'), tokenScopeSchema),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    tlsCa: z.string().optional(),
    tickMs: z.number().int().min(1).max(10_000),
    electionTicks: z.number().int().min(3).max(1000),
    heartbeatTicks: z.number().int().min(1).max(100),
    maxClockDriftRatio: z.number().min(0).max(0.49),
    snapshotEveryEntries: z.number().int().min(10).max(100_000_000),
    snapshotRetainEntries: z.number().int().min(0).max(100_000_000),
    maxPendingWrites: z.number().int().min(1).max(10_000_000),
    bodyLimitBytes: z.number().int().min(1024).max(256 << 20),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  })
  .superRefine((c, ctx) => {
    if (c.join === undefined && c.peers.size === 0) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: 'give --peers (a new or existing cluster) or --join <url of a member>' });
    }
    if (c.join !== undefined && c.peers.size > 0) {
      ctx.addIssue({ code: 'custom', path: ['join'], message: '--join and --peers exclude each other' });
    }
    if (c.peers.size > 0 && !c.peers.has(c.id)) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `--peers must list this node (${c.id}) with its advertised URL` });
    }
    if (c.electionTicks <= 2 * c.heartbeatTicks) {
      ctx.addIssue({ code: 'custom', path: ['electionTicks'], message: 'election ticks must exceed twice the heartbeat ticks' });
    }
    // The node serves lease reads: the lease must last at least one tick after drift is allowed for.
    const leaseProblem = leaseTooShort(c);
    if (leaseProblem !== undefined) ctx.addIssue({ code: 'custom', path: ['electionTicks'], message: leaseProblem });
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tlsCert'], message: '--tls-cert and --tls-key go together' });
    }
  });

export type Config = Readonly<z.infer<typeof configSchema>>;

interface FlagSpec {
  readonly key: keyof Config;
  readonly flag: string;
  readonly env: string;
  /** A 'switch' takes no value on the command line; its variable is 1/true or 0/false. */
  readonly kind: 'string' | 'int' | 'number' | 'peers' | 'tokens' | 'switch';
  readonly fallback?: string;
  readonly help: string;
}

export const FLAGS: readonly FlagSpec[] = [
  { key: 'id', flag: '--id', env: 'LEDGER_ID', kind: 'string', help: 'this node id, e.g. n1' },
  { key: 'listen', flag: '--listen', env: 'LEDGER_LISTEN', kind: 'string', fallback: '127.0.0.1:7001', help: 'client API (and peer RPC) address host:port' },
  { key: 'peerListen', flag: '--peer-listen', env: 'LEDGER_PEER_LISTEN', kind: 'string', help: 'separate address for peer RPCs' },
  { key: 'data', flag: '--data', env: 'LEDGER_DATA', kind: 'string', help: 'data directory' },
  { key: 'peers', flag: '--peers', env: 'LEDGER_PEERS', kind: 'peers', fallback: '', help: 'initial voters id=url,... (own entry is the advertised URL)' },
  { key: 'join', flag: '--join', env: 'LEDGER_JOIN', kind: 'string', help: 'URL of any member, to join an existing cluster' },
  { key: 'clusterSecret', flag: '--cluster-secret', env: 'LEDGER_CLUSTER_SECRET', kind: 'string', help: 'shared secret that authenticates peers' },
  { key: 'clusterId', flag: '--cluster-id', env: 'LEDGER_CLUSTER_ID', kind: 'string', help: 'the cluster this node belongs to; recorded in --data and checked at every start' },
  { key: 'insecure', flag: '--insecure', env: 'LEDGER_INSECURE', kind: 'switch', fallback: 'false', help: 'allow a port beyond loopback without tokens or cluster secret' },
  { key: 'tokens', flag: '--tokens', env: 'LEDGER_TOKENS', kind: 'tokens', fallback: '', help: 'client bearer tokens token=read|write|admin,...' },
  { key: 'tlsCert', flag: '--tls-cert', env: 'LEDGER_TLS_CERT', kind: 'string', help: 'PEM certificate file (HTTPS for clients and peers)' },
  { key: 'tlsKey', flag: '--tls-key', env: 'LEDGER_TLS_KEY', kind: 'string', help: 'PEM private key file' },
  { key: 'tlsCa', flag: '--tls-ca', env: 'LEDGER_TLS_CA', kind: 'string', help: 'PEM CA file to verify peers' },
  { key: 'tickMs', flag: '--tick-ms', env: 'LEDGER_TICK_MS', kind: 'int', fallback: '50', help: 'Raft tick length in ms' },
  { key: 'electionTicks', flag: '--election-ticks', env: 'LEDGER_ELECTION_TICKS', kind: 'int', fallback: '20', help: 'election timeout in ticks' },
  { key: 'heartbeatTicks', flag: '--heartbeat-ticks', env: 'LEDGER_HEARTBEAT_TICKS', kind: 'int', fallback: '2', help: 'heartbeat interval in ticks' },
  { key: 'maxClockDriftRatio', flag: '--max-clock-drift', env: 'LEDGER_MAX_CLOCK_DRIFT', kind: 'number', fallback: '0.1', help: 'assumed max clock rate difference (lease safety)' },
  { key: 'snapshotEveryEntries', flag: '--snapshot-entries', env: 'LEDGER_SNAPSHOT_ENTRIES', kind: 'int', fallback: '20000', help: 'snapshot after this many applied entries' },
  { key: 'snapshotRetainEntries', flag: '--snapshot-retain-entries', env: 'LEDGER_SNAPSHOT_RETAIN_ENTRIES', kind: 'int', fallback: '5000', help: 'log entries kept below a snapshot so a follower briefly behind catches up without one' },
  { key: 'maxPendingWrites', flag: '--max-pending-writes', env: 'LEDGER_MAX_PENDING_WRITES', kind: 'int', fallback: '50000', help: 'writes in flight before 429' },
  { key: 'bodyLimitBytes', flag: '--body-limit', env: 'LEDGER_BODY_LIMIT', kind: 'int', fallback: '16777216', help: 'largest request body in bytes' },
  { key: 'logLevel', flag: '--log-level', env: 'LEDGER_LOG_LEVEL', kind: 'string', fallback: 'info', help: 'log level' },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses argv (flags win) over the environment; throws ConfigError naming every problem. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const raw = new Map<string, string>();
  for (const spec of FLAGS) {
    const value = env[spec.env];
    if (value !== undefined && value !== '') raw.set(spec.flag, value);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS.find((f) => f.flag === flag);
    if (spec === undefined) throw new ConfigError(`unknown argument ${arg}; see --help`);
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    const value = inline ?? (spec.kind === 'switch' ? 'true' : argv[++i]);
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    raw.set(flag, value);
  }
  const input: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const spec of FLAGS) {
    const text = raw.get(spec.flag) ?? spec.fallback;
    if (text === undefined) continue;
    try {
      input[spec.key] = convert(spec, text);
    } catch (error) {
      problems.push(`${spec.flag} (${spec.env}): ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues
        .map((issue) => {
          const key = String(issue.path[0] ?? '');
          const spec = FLAGS.find((f) => f.key === key);
          return `${spec ? `${spec.flag} (${spec.env})` : key}: ${issue.message}`;
        })
        .join('\n'),
    );
  }
  return Object.freeze(parsed.data);
}

function convert(spec: FlagSpec, text: string): unknown {
  switch (spec.kind) {
    case 'string':
      return text;
    case 'int': {
      if (!/^-?\d+$/.test(text)) throw new Error(`expected an integer, got "${text}"`);
      return Number(text);
    }
    case 'number': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new Error(`expected a number, got "${text}"`);
      return n;
    }
    case 'switch': {
      if (/^(1|true|yes)$/i.test(text)) return true;
      if (/^(0|false|no)?$/i.test(text)) return false;
      throw new Error(`expected 1/true or 0/false, got "${text}"`);
    }
    case 'peers':
      return pairs(text, 'id=url');
    case 'tokens':
      return pairs(text, 'token=scope');
  }
}

function pairs(text: string, shape: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`expected ${shape},... but got "${part}"`);
    const key = part.slice(0, eq);
    if (out.has(key)) throw new Error(`"${key}" is given twice`);
    out.set(key, part.slice(eq + 1));
  }
  return out;
}

export function usage(): string {
  const lines = FLAGS.map((f) => `  ${f.flag.padEnd(22)} ${f.env.padEnd(28)} ${f.help}${f.fallback && f.kind !== 'switch' ? ` (default ${f.fallback})` : ''}`);
  return `usage: ledgerd --id ID --data DIR (--peers id=url,... | --join URL) [options]\n\n  flag                   environment variable\n${lines.join('\n')}\n`;
}

/** Whether an address only reaches this machine. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface Exposure {
  /** Why the node must not start: a port beyond loopback without the credential it needs. */
  readonly refusals: readonly string[];
  /** Credentials missing where the node may still start (loopback, or --insecure): logged at start. */
  readonly warnings: readonly string[];
}

/**
 * What the node's ports would serve without credentials. Peer RPCs need the
 * cluster secret and the client API needs tokens once their port reaches
 * beyond this machine; --insecure turns each refusal into a warning.
 */
export function exposureOf(config: Config): Exposure {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const checks = [
    {
      missing: config.clusterSecret === undefined,
      flag: config.peerListen === undefined ? '--listen' : '--peer-listen',
      address: config.peerListen ?? config.listen,
      serves: 'peer RPCs',
      need: 'a cluster secret (--cluster-secret or LEDGER_CLUSTER_SECRET)',
      risk: 'Raft messages forged by anyone who reaches it would be applied',
    },
    {
      missing: config.tokens.size === 0,
      flag: '--listen',
      address: config.listen,
      serves: 'the client API',
      need: 'client tokens (--tokens or LEDGER_TOKENS)',
      risk: 'anyone who reaches it could read and move money',
    },
  ];
  for (const check of checks) {
    if (!check.missing) continue;
    const loopback = isLoopbackHost(check.address);
    if (!loopback && !config.insecure) {
      refusals.push(`${check.flag} ${check.address} serves ${check.serves} beyond loopback without ${check.need}: ${check.risk}. ` +
        `Give ${check.need}, listen on 127.0.0.1, or accept the risk with --insecure (LEDGER_INSECURE=1)`);
    } else {
      const reach = loopback ? 'any process on this machine' : 'anyone who reaches it (--insecure)';
      warnings.push(`${check.serves} on ${check.address} without ${check.need}: open to ${reach}`);
    }
  }
  return { refusals, warnings };
}
