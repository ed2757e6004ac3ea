// Where ledgerd's log lines go: a descriptor (stdout) written without ever
// blocking the process. A log reader that stops reading (a full pipe) or goes
// away (a closed terminal, EPIPE) must keep a node neither from serving nor
// from stopping.
//
// Node writes process.stdout synchronously when it is a pipe or a terminal,
// and pino's stdout stream flushes synchronously in an exit handler that
// retries EAGAIN forever: either way a full pipe holds the process for good.
// Here a pipe, socket or terminal is opened as a non-blocking stream of its
// own (libuv sets O_NONBLOCK), lines queue in memory up to a bound and are
// dropped (and counted) beyond it, a failed descriptor ends logging, and
// nothing is flushed at exit beyond what `drain` waits for. A regular file
// never stays full, so it is written directly.

import { fstatSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { isatty, WriteStream } from 'node:tty';

/** Log bytes held while the reader is slow; beyond it lines are dropped and counted. */
const DEFAULT_MAX_QUEUED_BYTES = 4 << 20;

export class NonBlockingLogStream {
  /** undefined: a regular file (or anything else), written with writeSync. */
  private readonly stream: Writable | undefined;
  private broken = false;
  private droppedLines = 0;

  constructor(
    private readonly fd: number,
    private readonly maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES,
  ) {
    this.stream = openNonBlocking(fd);
    this.stream?.on('error', () => {
      // EPIPE, EIO, ECONNRESET: nobody can read this descriptor any more.
      this.broken = true;
      this.stream?.destroy();
    });
  }

  /** pino calls this with one serialised line. */
  write(line: string): void {
    if (this.broken) return;
    if (this.stream === undefined) return this.writeDirect(line);
    if (this.stream.writableLength + line.length > this.maxQueuedBytes) {
      this.droppedLines++;
      return;
    }
    if (this.droppedLines > 0) {
      this.stream.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: `log reader too slow: dropped ${this.droppedLines} lines` })}\n`);
      this.droppedLines = 0;
    }
    this.stream.write(line);
  }

  /** Resolves once every queued line is written (or logging broke), or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    const stream = this.stream;
    if (stream === undefined || this.broken || stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stream.off('drain', done);
        stream.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      stream.once('drain', done);
      stream.once('error', done);
    });
  }

  private writeDirect(line: string): void {
    try {
      writeSync(this.fd, line);
    } catch {
      this.broken = true;
    }
  }
}

/** A non-blocking stream over `fd` when it is a pipe, socket or terminal; undefined otherwise. */
function openNonBlocking(fd: number): Writable | undefined {
  let stat;
  try {
    stat = fstatSync(fd);
  } catch {
    return undefined;
  }
  // Unreferenced: logging alone never keeps the process alive.
  if (stat.isFIFO() || stat.isSocket()) return new Socket({ fd, readable: false, writable: true }).unref();
  if (stat.isCharacterDevice() && isatty(fd)) return new WriteStream(fd).unref();
  return undefined;
}
