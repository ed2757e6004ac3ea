// Writes the shared history format (/work/wt/JEPSEN-HISTORY.md, also
// docs/jepsen.md): one JSON object per line, in the order events happened,
// with monotonic nanoseconds since the run started. The runner owns the only
// instance; clients and nemeses append through it so the order in the file is
// the order of `time`.

import { createWriteStream, type WriteStream } from 'node:fs';

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  readonly type: EventType;
  /** Client id; -1 for the nemesis. One operation in flight per process. */
  readonly process: number;
  readonly f: string;
  readonly value: unknown;
  /** Monotonic nanoseconds since the run started. */
  readonly time: number;
  readonly node?: string;
  readonly index?: number;
  readonly error?: string;
  /** "final" on the operations of the read phase after healing. */
  readonly phase?: 'final';
}

export class HistoryWriter {
  readonly events: HistoryEvent[] = [];
  private readonly startNs = process.hrtime.bigint();
  private readonly stream: WriteStream;

  constructor(readonly file: string) {
    this.stream = createWriteStream(file, { flags: 'w' });
  }

  /** Nanoseconds since the run started. */
  nowNs(): number {
    return Number(process.hrtime.bigint() - this.startNs);
  }

  append(event: Omit<HistoryEvent, 'time'>): HistoryEvent {
    const stamped = { ...event, time: this.nowNs() } as HistoryEvent;
    this.events.push(stamped);
    this.stream.write(`${JSON.stringify(stamped)}\n`);
    return stamped;
  }

  /** A nemesis event (process -1, type info). */
  nemesis(f: string, value: Record<string, unknown>): HistoryEvent {
    return this.append({ type: 'info', process: -1, f, value });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
