// The edge of the API as issue 13.4 found it: JSON numbers that JSON.parse
// would round are refused with their path (2.9999999999999999 was stored as
// 3), duplicate keys are refused, `__proto__` and `constructor` are ordinary
// metadata keys, and the HTTP server's own refusals (414, 431, framing 400s,
// 408) carry the contract's error body and the Raft headers.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { errorOf, json, RAFT_HEADERS, testApp } from './helpers.js';

const transferText = (amount: string, extra = '') =>
  `{"id":"t1","debit_account_id":"a","credit_account_id":"b","amount":${amount},"ledger":"USD"${extra}}`;

interface Issue { path: string; code: string; message: string }

t.test('amounts that JSON.parse would round are refused with the field path, and never reach the node', async (t) => {
  const { app, service } = testApp(t);
  await app.inject({ method: 'POST', url: '/v1/accounts', payload: { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } });
  const callsBefore = service.calls.length;
  for (const amount of ['2.9999999999999999', '1.0000000000000001', '3.0', '3e0', '300e-2']) {
    const single = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: transferText(amount) });
    t.equal(single.statusCode, 400, `${amount}: 400`);
    t.equal(errorOf(single).code, 'invalid_body');
    const issues = errorOf(single).details?.['issues'] as Issue[];
    t.same(issues.map(({ path, code }) => ({ path, code })), [{ path: 'amount', code: 'not_an_integer' }], `${amount}: the path and why`);
    t.ok(RAFT_HEADERS.every((name) => single.headers[name] !== undefined), 'with the Raft headers');
  }
  const batch = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: `{"transfers":[${transferText('1')},${transferText('2.9999999999999999')}]}` });
  t.same((errorOf(batch).details?.['issues'] as Issue[]).map((issue) => issue.path), ['transfers.1.amount'], 'in a batch: transfers.1.amount');
  const unsafe = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: transferText('9007199254740993') });
  t.same((errorOf(unsafe).details?.['issues'] as Issue[]).map(({ path, code }) => ({ path, code })), [{ path: 'amount', code: 'unsafe_integer' }], '2^53+1 as a number');
  t.equal(service.calls.length, callsBefore, 'no refused body reached the node');

  const largest = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: transferText('9007199254740991') });
  t.equal(largest.statusCode, 200, '2^53-1 as a number is taken');
  const read = await app.inject({ method: 'GET', url: '/v1/transfers/t1' });
  t.equal(read.json<{ amount: string }>().amount, '9007199254740991', 'and stored exactly');
  const digits = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: transferText('"9223372036854775807"').replace('"t1"', '"t2"') });
  t.equal(digits.statusCode, 200, 'a digit string up to 2^63-1 is taken');
});

t.test('a key given twice is refused with its path', async (t) => {
  const { app } = testApp(t);
  const twice = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: transferText('5', ',"amount":500') });
  t.equal(twice.statusCode, 400);
  t.same((errorOf(twice).details?.['issues'] as Issue[]).map(({ path, code }) => ({ path, code })), [{ path: 'amount', code: 'duplicate_key' }]);
  t.match(errorOf(twice).message, /amount: the key "amount" appears more than once/);
});

t.test('__proto__ and constructor are ordinary metadata keys, stored and read back', async (t) => {
  const { app } = testApp(t);
  const metadata = '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"note":"x"}';
  const created = await app.inject({ method: 'POST', url: '/v1/accounts', headers: json, payload: `{"id":"p","ledger":"USD","metadata":${metadata}}` });
  t.equal(created.statusCode, 200, `created (${created.body})`);
  const read = await app.inject({ method: 'GET', url: '/v1/accounts/p' });
  t.equal(JSON.stringify((JSON.parse(read.body) as { metadata: unknown }).metadata), metadata, 'read back byte for byte');
  t.equal(({} as Record<string, unknown>)['admin'], undefined, 'no prototype was polluted');
  const repeat = await app.inject({ method: 'POST', url: '/v1/accounts', headers: json, payload: `{"id":"p","ledger":"USD","metadata":${metadata}}` });
  t.equal(repeat.json<{ results: { status: string }[] }>().results[0]?.status, 'exists', 'the same request again is the same request');
  const malformed = await app.inject({ method: 'POST', url: '/v1/accounts', headers: json, payload: '{"id":"p",' });
  t.equal(errorOf(malformed).code, 'malformed_json', 'broken JSON is still malformed_json');
  t.match(errorOf(malformed).message, /at character 10/, 'saying where');
});

/** One raw HTTP exchange: what the server wrote before closing. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

function parseAnswer(raw: string): { status: number; headers: Record<string, string>; body: { error?: { code?: string; details?: unknown } } } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => {
    const at = line.indexOf(':');
    return [line.slice(0, at).toLowerCase(), line.slice(at + 1).trim()];
  }));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) as { error?: { code?: string } } };
}

t.test('refusals of the HTTP server itself use the error body and the Raft headers', async (t) => {
  const { app } = testApp(t, { requestTimeoutMs: 300 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const cases: [string, string, number, string][] = [
    ['a path segment of 600 characters', `GET /v1/accounts/${'a'.repeat(600)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 414, 'uri_too_long'],
    ['a URL of 20,000 characters', `GET /v1/accounts/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'headers_too_large'],
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400, 'bad_request'],
    ['a bad Content-Length', 'POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n', 400, 'bad_request'],
    ['headers that never end', 'POST /v1/accounts HTTP/1.1\r\nHost: x\r\n', 408, 'request_timeout'],
  ];
  for (const [name, text, status, code] of cases) {
    const answer = parseAnswer(await exchange(port, text));
    t.equal(answer.status, status, `${name}: ${status}`);
    t.equal(answer.body.error?.code, code, `${name}: ${code}`);
    t.same(answer.body.error?.details, {}, `${name}: details`);
    t.ok(RAFT_HEADERS.every((header) => answer.headers[header] !== undefined), `${name}: Raft headers`);
    t.equal(answer.headers['x-served-by'], 'n1');
  }
});
