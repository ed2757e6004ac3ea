// The simulator, one level up: the real LedgerNode driver (Ready loop, group
// commit, reads, expiry, snapshots, membership code paths) and the real SQLite
// ledger, run on virtual time with in-memory storage whose fsyncs take
// simulated time, over a simulated network with loss, delay, reordering and
// partitions, with crashes that keep only what was durable (the ledger keeps
// every committed transaction, as its file does across kill -9; a received
// snapshot's image is the ledger's, not the Raft storage's). Clients write
// transfers and read balances throughout; the run checks that no
// acknowledged transfer is lost, that linearizable reads see every transfer
// acknowledged before they began, and that all replicas converge.

import { Prng } from '../../src/lib/prng.js';
import { LedgerStateMachine, type Command } from '../../src/ledger/index.js';
import { LedgerNode, type NodeLogger } from '../../src/node/node.js';
import type { SnapshotSource, Transport, TransportHandlers } from '../../src/node/transport.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { Network, streamSnapshot, type Envelope, type NetworkFaults } from '../support/network.js';
import { MemoryDriverStorage } from './memory-driver-storage.js';
import { VirtualTime } from './virtual-scheduler.js';

export interface DriverSimOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Simulated milliseconds of faults and load. */
  readonly durationMs: number;
}

export interface DriverSimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly acknowledged: number;
  readonly readsChecked: number;
  readonly crashes: number;
  readonly trace: readonly string[];
}

const quiet: NodeLogger = { info() {}, warn() {}, error() {} };
const ACCOUNTS = ['a', 'b', 'c'];
/** A client's retries of one transfer: exponential from the base, capped, jittered, and at most this many. */
const WRITE_ATTEMPTS = 6;
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2_000;
/** 1-6 ms, one message in twenty 5-40 ms later (so out of order); chaos sets the loss rate. */
const DRIVER_NETWORK: NetworkFaults = { lossRate: 0, minDelayMs: 1, maxDelayMs: 6, reorderRate: 0.05, reorderExtraMs: { min: 5, max: 40 }, holdRate: 0 };

class SimLink implements Transport {
  constructor(
    private readonly sim: DriverSimulation,
    private readonly from: NodeId,
    readonly incarnation: number,
  ) {}
  setPeers(): void {}
  send(messages: readonly Message[]): void {
    for (const m of messages) this.sim.deliver(this.incarnation, m);
    // A crash right after promising something (an acknowledgement, a vote): it must already be durable.
    if (messages.some((m) => (m.type === 'appResp' || m.type === 'voteResp') && !m.reject)) this.sim.maybeCrashAfterPromise(this.from, this.incarnation);
  }
  sendSnapshot(message: Message, source: SnapshotSource): void {
    this.sim.stream(this.from, this.incarnation, message, source);
  }
  async close(): Promise<void> {}
}

interface SimNodeState {
  readonly id: NodeId;
  node: LedgerNode | undefined;
  handlers: TransportHandlers | undefined;
  storage: MemoryDriverStorage;
  /** Survives crashes, as ledger.db does. */
  readonly ledger: LedgerStateMachine;
  incarnation: number;
  readonly slowness: number;
}

class Violation extends Error {}

export class DriverSimulation {
  readonly time = new VirtualTime();
  private readonly random: Prng;
  private readonly states = new Map<NodeId, SimNodeState>();
  /** Messages carry their sender's incarnation: a crashed node's messages in flight still arrive, its later ones do not exist. */
  private readonly network: Network<number>;
  private readonly trace: string[] = [];
  private readonly acknowledged = new Map<string, number>();
  private readsChecked = 0;
  private crashes = 0;
  private nextTransfer = 0;
  private failure: string | undefined;
  private faultsUntil = Number.POSITIVE_INFINITY;

  constructor(private readonly options: DriverSimOptions) {
    this.random = new Prng(options.seed);
    this.network = new Network<number>(this.random, {
      faults: DRIVER_NETWORK,
      schedule: (envelope, delayMs) => this.time.schedule('sim', () => this.arrive(envelope), delayMs),
    });
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    for (const id of ids) {
      const state: SimNodeState = {
        id,
        node: undefined,
        handlers: undefined,
        storage: MemoryDriverStorage.fresh(this.fsyncFor(id), ids),
        ledger: LedgerStateMachine.open(':memory:'),
        incarnation: 0,
        slowness: 1 + (this.random.next() * 2 - 1) * 0.05,
      };
      this.states.set(id, state);
      this.boot(state);
    }
  }

  private log(line: string): void {
    this.trace.push(`${String(Math.round(this.time.nowMs)).padStart(6)}ms ${line}`);
    if (this.trace.length > 600) this.trace.splice(0, 200);
  }

  private fsyncFor(id: NodeId): (done: () => void) => void {
    return (done) => this.time.schedule(`${id}#storage`, done, this.random.int(1, 4));
  }

  private boot(state: SimNodeState): void {
    state.incarnation++;
    const owner = `${state.id}#${state.incarnation}`;
    this.time.revive(`${state.id}#storage`);
    const { scheduler, clock } = this.time.view(owner, state.slowness);
    const peers = new Map([...this.states.keys()].map((id) => [id, `sim://${id}`]));
    state.node = new LedgerNode({
      id: state.id,
      dataDir: `/nonexistent/${state.id}`,
      peers,
      join: false,
      tickMs: 10,
      electionTicks: 10,
      heartbeatTicks: 1,
      maxClockDriftRatio: 0.1,
      snapshotEveryEntries: 40,
      maxPendingWrites: 10_000,
      clock,
      scheduler,
      storage: state.storage,
      ledger: state.ledger,
      logger: quiet,
      transport: (handlers) => {
        state.handlers = handlers;
        return new SimLink(this, state.id, state.incarnation);
      },
    });
    state.node.start();
  }

  private crash(state: SimNodeState): void {
    if (!state.node) return;
    this.crashes++;
    this.log(`${state.id} CRASH`);
    this.time.kill(`${state.id}#${state.incarnation}`);
    this.time.kill(`${state.id}#storage`);
    state.node = undefined;
    state.handlers = undefined;
    state.storage = state.storage.durableCopy(this.fsyncFor(state.id));
    const restartIn = this.random.int(50, 400);
    this.time.schedule('sim', () => {
      this.log(`${state.id} RESTART`);
      this.boot(state);
    }, restartIn);
  }

  maybeCrashAfterPromise(id: NodeId, incarnation: number): void {
    if (this.time.nowMs > this.faultsUntil || !this.random.chance(0.02)) return;
    this.time.schedule('sim', () => {
      const state = this.states.get(id);
      if (state && state.incarnation === incarnation && state.node) this.crash(state);
    }, 0);
  }

  deliver(incarnation: number, m: Message): void {
    this.network.send(m, this.time.nowMs, incarnation);
  }

  private arrive({ message: m, payload: incarnation }: Envelope<number>): void {
    const sender = this.states.get(m.from);
    const receiver = this.states.get(m.to);
    if (!sender || sender.incarnation !== incarnation || !receiver?.handlers || !this.network.linked(m.from, m.to)) return;
    receiver.handlers.onMessages([m]);
  }

  stream(from: NodeId, incarnation: number, message: Message, source: SnapshotSource): void {
    this.time.schedule('sim', () => {
      const sender = this.states.get(from);
      const receiver = this.states.get(message.to);
      let ok = false;
      try {
        if (!sender || sender.incarnation !== incarnation || !receiver?.handlers || !this.network.linked(from, message.to)) return;
        ok = streamSnapshot(receiver.handlers, from, message, source, 16 * 1024);
        if (ok) this.log(`${from} streamed snapshot @${message.snapshot?.index} to ${message.to}`);
      } finally {
        source.close();
        if (sender?.incarnation === incarnation) sender.handlers?.onSnapshotSent(message.to, ok);
      }
    }, this.random.int(2, 20));
  }

  private live(): SimNodeState[] {
    return [...this.states.values()].filter((s) => s.node !== undefined);
  }

  private async client(until: number): Promise<void> {
    // One write or read every few ms to a random live node, each tracked as its own promise.
    while (this.time.nowMs < until && !this.failure) {
      await new Promise<void>((resolve) => this.time.schedule('sim', resolve, this.random.int(1, 11)));
      const state = this.random.pick(this.live().length > 0 ? this.live() : [...this.states.values()]);
      const node = state.node;
      if (!node) continue;
      if (this.random.chance(0.7)) void this.write(node);
      else void this.read(node);
    }
  }

  /**
   * A transfer as a real client sends it: retried with the same id (the
   * ledger answers `exists` if an earlier try landed) after a backoff that
   * doubles up to a cap, with jitter, at least the server's retry-after, and
   * to the leader a refusal names.
   */
  private async write(first: LedgerNode): Promise<void> {
    const id = `t${this.nextTransfer++}`;
    const from = this.random.pick(ACCOUNTS);
    const to = ACCOUNTS[(ACCOUNTS.indexOf(from) + 1) % ACCOUNTS.length] as string;
    const command = { type: 'create_transfers', transfers: [{ id, debit_account_id: from, credit_account_id: to, amount: 1n, ledger: 'USD' }] } as Command;
    let node: LedgerNode | undefined = first;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS && !this.failure; attempt++) {
      if (node) {
        const outcome = await node.write(command, 2000);
        if (outcome.ok) {
          if (outcome.value.result.type !== 'create_transfers') return;
          const status = outcome.value.result.results[0]?.status;
          if (status === 'created' || status === 'exists') this.acknowledged.set(id, this.time.nowMs);
          return;
        }
        const error = outcome.error;
        if (error.code === 'storage_failed' || error.code === 'cluster_change_refused') return;
        node = error.code === 'not_leader' ? this.states.get(error.leaderId)?.node : undefined;
        const retryAfterMs = 'retryAfterMs' in error ? error.retryAfterMs : 0;
        await this.sleep(Math.max(retryAfterMs, this.retryDelayMs(attempt)));
      } else {
        await this.sleep(this.retryDelayMs(attempt));
      }
      // The named leader may be down (or unknown): any live node will name the current one.
      if (!node) node = this.live().length > 0 ? this.random.pick(this.live()).node : undefined;
    }
  }

  private retryDelayMs(attempt: number): number {
    const step = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
    return Math.ceil(step / 2 + this.random.next() * (step / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.time.schedule('sim', resolve, ms));
  }

  /** A linearizable read of the number of transfers must count every one acknowledged before it began. */
  private async read(node: LedgerNode): Promise<void> {
    const ackedBefore = this.acknowledged.size;
    const outcome = await node.read({ level: this.random.chance(0.5) ? 'linearizable' : 'lease', waitMs: 1000 }, (q) =>
      q.accounts(ACCOUNTS).reduce((sum, a) => sum + (a?.credits_posted ?? 0n), 0n),
    );
    if (!outcome.ok) return;
    this.readsChecked++;
    if (outcome.value.value < BigInt(ackedBefore)) {
      this.failure = `stale read on ${node.nodeId}: ${outcome.value.value} transfers seen, ${ackedBefore} acknowledged before it began`;
    }
  }

  private chaos(): void {
    const r = this.random;
    const ids = [...this.states.keys()];
    switch (r.int(0, 5)) {
      case 0: {
        const shuffled = r.shuffle([...ids]);
        const side = shuffled.slice(0, r.int(1, ids.length - 1));
        this.network.partition([side, ids.filter((id) => !side.includes(id))]);
        this.log(`PARTITION ${side.join(',')} | rest`);
        break;
      }
      case 1:
        this.network.heal();
        this.log('HEAL');
        break;
      case 2: {
        // Any node, even when others are down: crashes lose nothing durable, so even all of them at once must not lose a write.
        const live = this.live();
        if (live.length > 0) this.crash(r.pick(live));
        break;
      }
      case 3:
        this.network.faults = { ...this.network.faults, lossRate: r.pick([0, 0.02, 0.1]) };
        break;
      default:
        break;
    }
  }

  async run(): Promise<DriverSimResult> {
    try {
      await this.advanceUntilSettled(this.setup(), 10_000);
      const faultsUntil = this.time.nowMs + this.options.durationMs;
      this.faultsUntil = faultsUntil;
      const clients = this.client(faultsUntil);
      for (let t = this.time.nowMs; t < faultsUntil && !this.failure; t += 50) {
        if (this.random.chance(0.15)) this.chaos();
        await this.time.runUntil(t + 50);
      }
      await this.advanceUntilSettled(clients, 5_000);
      this.network.heal();
      this.network.faults = DRIVER_NETWORK;
      this.log('HEAL everything');
      await this.time.runUntil(this.time.nowMs + 1500);
      if (!this.failure) await this.checkEnd();
    } catch (error) {
      this.failure = (error as Error).message;
    } finally {
      for (const state of this.states.values()) {
        if (state.node) this.time.kill(`${state.id}#${state.incarnation}`);
      }
    }
    return {
      seed: this.options.seed,
      ok: this.failure === undefined,
      ...(this.failure === undefined ? {} : { error: this.failure }),
      acknowledged: this.acknowledged.size,
      readsChecked: this.readsChecked,
      crashes: this.crashes,
      trace: this.trace,
    };
  }

  /** Moves virtual time on until the promise settles (or the limit passes: a liveness failure). */
  private async advanceUntilSettled(promise: Promise<void>, limitMs: number): Promise<void> {
    let settled = false;
    let failure: unknown;
    promise.then(
      () => (settled = true),
      (error: unknown) => {
        settled = true;
        failure = error;
      },
    );
    const deadline = this.time.nowMs + limitMs;
    while (!settled && this.time.nowMs < deadline) await this.time.runUntil(this.time.nowMs + 10);
    if (failure !== undefined) throw failure;
    if (!settled) throw new Violation(`liveness: not done within ${limitMs} simulated ms`);
  }

  private async setup(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      for (const state of this.live()) {
        const outcome = await state.node?.write({ type: 'create_accounts', accounts: ACCOUNTS.map((id) => ({ id, ledger: 'USD' })) } as Command, 500);
        if (outcome?.ok) {
          const result = outcome.value.result;
          if (result.type !== 'create_accounts' || result.results.some((r) => r.status === 'error')) {
            throw new Violation(`accounts not created: ${JSON.stringify(result)}`);
          }
          return;
        }
      }
      await new Promise<void>((resolve) => this.time.schedule('sim', resolve, 20));
    }
    throw new Violation('no leader to create the accounts');
  }

  private async checkEnd(): Promise<void> {
    // Wait for every node to be up and caught up with a leader.
    for (let i = 0; i < 200; i++) {
      const live = this.live();
      const leader = live.find((s) => s.node?.raftStatus().role === 'leader');
      if (live.length === this.states.size && leader) {
        const commit = leader.node?.raftStatus().commit ?? 0;
        if (live.every((s) => (s.node?.ledger.appliedIndex() ?? 0) >= commit)) break;
      }
      await this.time.runUntil(this.time.nowMs + 50);
    }
    const live = this.live();
    const leader = live.find((s) => s.node?.raftStatus().role === 'leader')?.node;
    if (!leader || live.length !== this.states.size) throw new Violation('liveness: no leader with every node up after healing');
    const missing = [...this.acknowledged.keys()].filter((id) => leader.ledger.queries.transfer(id)?.status !== 'posted');
    if (missing.length > 0) throw new Violation(`lost ${missing.length} acknowledged transfers, first ${missing[0]}`);
    const applied = new Set(live.map((s) => s.node?.ledger.appliedIndex()));
    const heads = new Set(live.map((s) => s.node?.ledger.chainHead()));
    if (applied.size !== 1 || heads.size !== 1) {
      throw new Violation(`replicas diverge: applied ${[...applied].join(',')}, ${heads.size} chain heads`);
    }
  }
}

export function runDriverSeed(options: DriverSimOptions): Promise<DriverSimResult> {
  return new DriverSimulation(options).run();
}
