// A small server-sent events client for the tests of GET /v1/events: a real
// HTTP connection, the stream parsed into { id, data } events as they come.

import http from 'node:http';

/** The JSON of one event's `data` line (docs/api.md, "Change stream"). */
export interface EventData {
  readonly kind: string;
  readonly index: number;
  readonly record: { readonly id?: string; readonly sku?: string; readonly status?: string; readonly [field: string]: unknown };
}

export interface StreamEvent {
  readonly id: string;
  readonly data: EventData;
}

export class EventStreamClient {
  readonly events: StreamEvent[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  body = '';
  private buffer = '';
  private request: http.ClientRequest | undefined;
  private response: http.IncomingMessage | undefined;
  private waiters: (() => void)[] = [];
  ended = false;

  /** Connects and resolves once the status line and headers arrived. */
  open(baseUrl: string, pathAndQuery: string, headers: Record<string, string> = {}, paused = false): Promise<this> {
    return new Promise((resolve, reject) => {
      this.request = http.get(new URL(pathAndQuery, baseUrl), { headers }, (response) => {
        this.status = response.statusCode ?? 0;
        this.headers = response.headers;
        this.response = response;
        if (paused) response.pause();
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => this.take(chunk));
        for (const done of ['end', 'close'] as const) {
          response.on(done, () => {
            this.ended = true;
            this.wake();
          });
        }
        resolve(this);
      });
      this.request.on('error', (error) => {
        this.ended = true;
        this.wake();
        reject(error);
      });
    });
  }

  /** Resolves once `count` events arrived in total; rejects after timeoutMs. */
  async waitFor(count: number, timeoutMs = 15_000): Promise<StreamEvent[]> {
    await this.waitUntil((events) => events.length >= count, `${count} events`, timeoutMs);
    return this.events.slice(0, count);
  }

  /** Resolves once `done` holds for the events received so far; rejects after timeoutMs or when the stream ends first. */
  async waitUntil(done: (events: readonly StreamEvent[]) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.events)) {
      if (this.ended) throw new Error(`stream ended after ${this.events.length} events, before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} after ${timeoutMs} ms (${this.events.length} events)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Starts reading a stream opened paused. */
  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.request?.destroy();
  }

  private take(chunk: string): void {
    this.body += this.status === 200 ? '' : chunk;
    this.buffer += chunk;
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: string | undefined;
      let data: string | undefined;
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      if (id !== undefined && data !== undefined) this.events.push({ id, data: JSON.parse(data) });
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Orders event ids `<index>` and `<index>.<n>` as the stream does. */
export function eventIdKey(id: string): [number, number] {
  const [index, sub] = id.split('.');
  return [Number(index), sub === undefined ? 0 : Number(sub)];
}
