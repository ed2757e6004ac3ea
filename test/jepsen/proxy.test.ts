// The proxy that partitions rely on: a link passes bytes while open, holds
// them (old and new connections) while dropping and delivers them once open
// again, resets connections when rejecting, and cuts only its own direction.

import { connect, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { ProxyMesh } from './proxy.js';

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** A connected client that collects what it receives. */
async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (chunk) => (text += chunk.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => text, closed: () => closed };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(10);
  }
  return check();
}

t.test('open passes, drop holds old and new connections, open delivers what waited', async (t) => {
  const echo = await echoServer();
  const mesh = new ProxyMesh();
  const port = await mesh.add('a', 'b', echo.port);
  t.teardown(async () => {
    await mesh.close();
    echo.server.close();
  });
  const old = await client(port);
  old.socket.write('one');
  t.ok(await eventually(() => old.received() === 'one'), 'open: echoed');

  mesh.set('a', 'b', 'drop');
  old.socket.write('two');
  const fresh = await client(port);
  fresh.socket.write('three');
  await sleep(300);
  t.equal(old.received(), 'one', 'drop: nothing more arrives on an old connection');
  t.equal(fresh.received(), '', 'drop: nothing arrives on a new connection');
  t.same(mesh.blocked(), ['a->b:drop']);

  mesh.set('a', 'b', 'open');
  t.ok(await eventually(() => old.received() === 'onetwo'), 'open again: the held bytes arrive on the old connection');
  t.ok(await eventually(() => fresh.received() === 'three'), 'and on the new one');
  old.socket.destroy();
  fresh.socket.destroy();
});

t.test('reset closes connections; a cut is per direction', async (t) => {
  const echo = await echoServer();
  const mesh = new ProxyMesh();
  const ab = await mesh.add('a', 'b', echo.port);
  const ba = await mesh.add('b', 'a', echo.port);
  t.teardown(async () => {
    await mesh.close();
    echo.server.close();
  });
  const before = await client(ab);
  mesh.set('a', 'b', 'reset');
  t.ok(await eventually(() => before.closed()), 'reset: the open connection is closed');
  const other = await client(ba);
  other.socket.write('still');
  t.ok(await eventually(() => other.received() === 'still'), 'b->a still open');
  mesh.healAll();
  const after = await client(ab);
  after.socket.write('back');
  t.ok(await eventually(() => after.received() === 'back'), 'healed: a->b passes again');
  other.socket.destroy();
  after.socket.destroy();
});

t.test('cut blocks both directions between groups and nothing inside them', async (t) => {
  const mesh = new ProxyMesh();
  t.teardown(() => mesh.close());
  for (const x of ['n1', 'n2', 'n3']) for (const y of ['n1', 'n2', 'n3']) if (x !== y) await mesh.add(x, y, 1);
  mesh.cut(['n1'], ['n2', 'n3']);
  t.same(mesh.blocked().sort(), ['n1->n2:drop', 'n1->n3:drop', 'n2->n1:drop', 'n3->n1:drop']);
});
