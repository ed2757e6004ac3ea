// A one-node ledgerd for the fatal-assertion process test: the real
// LedgerNode (WAL, SQLite), the real API and peer routes on a real port,
// with the process's default reaction to an AssertionFailure (exit 70). Two
// injected programmer errors stand in for a broken invariant:
// - a write that creates the account `assert-now` fails its assertion AFTER
//   the write committed and applied (the core moved on, the answer is lost);
// - a peer readIndex carrying the read id `assert-now` fails inside onMessages.
// Usage: node fatal-child.js <port> <data dir>

import path from 'node:path';
import { AssertionFailure } from '../../src/lib/assert.js';
import { buildApp } from '../../src/http/app.js';
import type { Command } from '../../src/ledger/index.js';
import { LedgerNode, systemClock, type NodeLogger } from '../../src/node/node.js';
import { PeerTransport } from '../../src/node/peer-transport.js';
import { PEER_ROUTES_PREFIX, peerRoutesPlugin } from '../../src/node/peer-routes.js';
import type { TransportHandlers } from '../../src/node/transport.js';

export const TRIGGER = 'assert-now';

const [portText, dataDir] = process.argv.slice(2);
if (portText === undefined || dataDir === undefined) throw new Error('usage: fatal-child <port> <data dir>');
const url = `http://127.0.0.1:${portText}`;
const logger: NodeLogger = { info() {}, warn() {}, error: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`) };

let handlers: TransportHandlers | undefined;
const node = new LedgerNode({
  id: 'n1', dataDir: path.resolve(dataDir), peers: new Map([['n1', url]]), join: false,
  tickMs: 20, electionTicks: 10, heartbeatTicks: 1, maxClockDriftRatio: 0.1, snapshotEveryEntries: 10_000,
  maxPendingWrites: 1000, clock: systemClock, logger,
  transport: (h) => {
    handlers = h;
    return new PeerTransport({ nodeId: 'n1', handlers: h });
  },
});
if (handlers === undefined) throw new Error('transport was not created');
const real = handlers;
const peerHandlers: Pick<TransportHandlers, 'onMessages' | 'onSnapshotStart'> = {
  onMessages: (messages) => {
    if (messages.some((m) => m.readIds.includes(TRIGGER))) throw new AssertionFailure('injected: a peer message broke an invariant');
    real.onMessages(messages);
  },
  onSnapshotStart: (from, meta) => real.onSnapshotStart(from, meta),
};

const createsTrigger = (command: Command): boolean =>
  command.type === 'create_accounts' && command.accounts.some((account) => account.id === TRIGGER);

const service = new Proxy(node, {
  get(target, property, receiver) {
    if (property === 'write') {
      return async (command: Command, timeoutMs: number) => {
        const outcome = await target.write(command, timeoutMs);
        if (createsTrigger(command)) throw new AssertionFailure('injected: an invariant broke after the write committed');
        return outcome;
      };
    }
    const value: unknown = Reflect.get(target, property, receiver);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  },
});

const app = buildApp({
  service,
  logLevel: 'warn',
  extensions: [(root) => void root.register(peerRoutesPlugin, { nodeId: 'n1', handlers: peerHandlers, prefix: PEER_ROUTES_PREFIX })],
});
await app.listen({ host: '127.0.0.1', port: Number(portText) });
node.start();
process.on('SIGTERM', () => {
  void node.stop().then(() => app.close()).then(() => process.exit(0));
});
