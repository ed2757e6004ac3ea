// Reservations: a few skus with little stock, clients hold random lines with
// short TTLs (so expiry races confirms), confirm or release their own holds,
// and read items at every consistency level. The checker's invariant is that
// nothing is oversold (0 <= reserved <= on_hand) and an acknowledged confirm
// stays confirmed.

import type { Answer } from '../client.js';
import { itemCompletion, LEVELS, readQuery, type ClientState, type Level, type Operation, type SetupSend, type Workload } from './workload.js';

export class ReservationsWorkload implements Workload {
  readonly name = 'reservations';
  readonly skus: string[];
  private readonly heldByProcess = new Map<number, string[]>();

  constructor(
    readonly skuCount: number,
    readonly onHand: number,
  ) {
    this.skus = Array.from({ length: skuCount }, (_, i) => `sku-${i}`);
  }

  async setup(send: SetupSend, _record: (op: Operation, answer: Answer) => void): Promise<Record<string, unknown>> {
    await send({ method: 'POST', path: '/v1/items', body: { items: this.skus.map((sku) => ({ sku, on_hand: this.onHand })) } });
    return { skus: this.skus, on_hand: this.onHand };
  }

  next(client: ClientState): Operation {
    const rng = client.rng;
    const roll = rng.next();
    const held = this.heldByProcess.get(client.process) ?? [];
    this.heldByProcess.set(client.process, held);
    if (roll < 0.4) {
      const id = `r-${client.process}-${client.counter++}`;
      const skus = rng.shuffle([...this.skus]).slice(0, rng.int(1, Math.min(2, this.skus.length)));
      const lines = skus.map((sku) => ({ sku, qty: rng.int(1, 3) }));
      const ttlMs = rng.pick([300, 1_000, 3_000, 10_000]);
      held.push(id);
      if (held.length > 20) held.shift();
      return {
        f: 'hold', value: { id, lines, ttl_ms: ttlMs }, isRead: false,
        request: { method: 'POST', path: '/v1/reservations', body: { id, lines, ttl_ms: ttlMs } },
        complete: (answer) => itemCompletion(answer, ['created', 'exists']),
      };
    }
    if (roll < 0.65 && held.length > 0) {
      const id = held.splice(rng.int(0, held.length - 1), 1)[0] as string;
      const f = rng.chance(0.7) ? 'confirm' : 'release';
      return {
        f, value: { id }, isRead: false,
        request: { method: 'POST', path: `/v1/reservations/${id}/${f}` },
        complete: (answer) => itemCompletion(answer, f === 'confirm' ? ['confirmed', 'exists'] : ['released', 'exists']),
      };
    }
    return this.readItem(rng.pick(LEVELS), rng.pick(this.skus), client);
  }

  finalReads(): Operation[] {
    return this.skus.map((sku) => this.readItem('linearizable', sku, undefined));
  }

  private readItem(level: Level, sku: string, client: ClientState | undefined): Operation {
    const { query, extra } = readQuery(level, client);
    return {
      f: 'read-item', value: { level, ...extra, sku }, isRead: true,
      request: { method: 'GET', path: `/v1/items/${sku}?${query}` },
      complete: (answer) => ({ type: 'ok', value: { on_hand: answer.body.on_hand, reserved: answer.body.reserved, available: answer.body.available } }),
    };
  }
}
