// A server-sent events parser for GET /v1/events: the text/event-stream
// framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)
// reduced to what the stream sends: `id:` and `data:` fields, comment lines
// (`: keep-alive`), events ended by a blank line. Line ends may be \n, \r\n or \r.

export interface RawEvent {
  readonly id: string | undefined;
  readonly data: string;
}

/** Yields each complete event of a byte stream; a partial event at the end of the stream is dropped. */
export async function* parseEventStream(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<RawEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let data: string[] = [];
  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
      if (buffer[end] === '\r' && end === buffer.length - 1) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { id, data: data.join('\n') };
        id = undefined;
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
  }
}
