// Where ledgerd's log lines go: a file descriptor (stdout) written without
// ever blocking the process. A log reader that stops reading (a full pipe) or
// goes away (a closed terminal, EPIPE) must not keep a node from serving or
// from stopping: lines queue up to a bound and are dropped beyond it, a broken
// descriptor ends logging, and nothing is flushed synchronously at exit
// (pino's own stdout stream flushes in an exit handler that retries EAGAIN
// forever on a pipe nobody reads).

import { write } from 'node:fs';

/** Log bytes held while the reader is slow; beyond it lines are dropped and counted. */
const DEFAULT_MAX_QUEUED_BYTES = 4 << 20;
/** How long to wait before writing again to a full non-blocking pipe. */
const RETRY_FULL_MS = 50;

export class NonBlockingLogStream {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private broken = false;
  private droppedLines = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES,
  ) {}

  /** pino calls this with one serialised line. */
  write(line: string): void {
    if (this.broken) return;
    const bytes = Buffer.from(line, 'utf8');
    if (this.queuedBytes + bytes.length > this.maxQueuedBytes) {
      this.droppedLines++;
      return;
    }
    if (this.droppedLines > 0) {
      const note = Buffer.from(`${JSON.stringify({ level: 40, time: Date.now(), msg: `log reader too slow: dropped ${this.droppedLines} lines` })}\n`);
      this.droppedLines = 0;
      this.queue.push(note);
      this.queuedBytes += note.length;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.pump();
  }

  /** Resolves once every queued line is written (or logging broke), or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private idle(): boolean {
    return this.broken || (!this.writing && this.queue.length === 0);
  }

  private pump(): void {
    if (this.writing || this.broken || this.queue.length === 0) return this.notifyIdle();
    const chunk = this.queue.length === 1 ? (this.queue[0] as Buffer) : Buffer.concat(this.queue);
    this.queue = [];
    this.writing = true;
    write(this.fd, chunk, 0, chunk.length, null, (error, written) => {
      this.writing = false;
      if (error !== null && error.code !== 'EAGAIN') {
        // EPIPE, EBADF, EIO: nobody can read this descriptor any more.
        this.broken = true;
        this.queue = [];
        this.queuedBytes = 0;
        return this.notifyIdle();
      }
      const done = error === null ? written : 0;
      this.queuedBytes -= done;
      if (done < chunk.length) this.queue.unshift(chunk.subarray(done));
      if (error !== null) {
        setTimeout(() => this.pump(), RETRY_FULL_MS).unref();
        return undefined;
      }
      return this.pump();
    });
  }

  private notifyIdle(): void {
    if (!this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
