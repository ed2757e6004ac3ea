// Closing with grace: a request in flight when app.close() starts is served,
// and a request that still arrives on an open connection gets 503
// shutting_down in the contract's body, not fastify's own closing answer.

import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildApp } from '../../src/http/app.js';
import type { Command } from '../../src/ledger/index.js';
import { LocalService } from './local-service.js';

t.test('in-flight requests finish; later ones on the same connection get shutting_down', async (t) => {
  const service = new LocalService();
  t.teardown(() => service.close());
  let open = (): void => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let writeArrived = (): void => undefined;
  const writing = new Promise<void>((resolve) => {
    writeArrived = resolve;
  });
  const write = service.write.bind(service);
  service.write = async (command: Command, timeoutMs: number) => {
    writeArrived();
    await gate;
    return write(command, timeoutMs);
  };
  // Steps wait for what they need (the write held in the node, the second request read by the server), never for a fixed time.
  let secondArrived = (): void => undefined;
  const secondRead = new Promise<void>((resolve) => {
    secondArrived = resolve;
  });
  const app = buildApp({
    service,
    logLevel: 'silent',
    extensions: [(root) => root.addHook('onRequest', (request, _reply, done) => {
      if (request.url === '/v1/cluster') secondArrived();
      done();
    })],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8');
  });
  const body = '{"id":"a","ledger":"USD"}';
  socket.write(`POST /v1/accounts HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await writing;
  const closing = app.close();
  socket.write('GET /v1/cluster HTTP/1.1\r\nHost: ledger\r\n\r\n');
  await secondRead;
  open();
  await closing;
  await new Promise((resolve) => socket.once('close', resolve));
  const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
  t.match(first, /^HTTP\/1\.1 200 /, 'the write in flight was answered');
  t.match(first, /"index":1/);
  t.match(second, /^HTTP\/1\.1 503 /);
  t.match(second, /\r\nretry-after: 1\r\n/i);
  t.match(second, /\r\nx-raft-term: 3\r\n/i);
  t.match(second, /\{"error":\{"code":"shutting_down","message":"[^"]+","details":\{\}\}\}$/);
  t.equal(service.machine.appliedIndex(), 1);
});
