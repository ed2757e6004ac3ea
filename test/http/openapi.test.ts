// The OpenAPI document (issue 12 point 1): generated from the route table and
// its zod schemas, valid OpenAPI 3.1, the same as the committed
// docs/openapi.json, served open at /openapi.json, listing exactly the routes
// the app registers, and describing what the API really answers (real
// answers parse with the response schemas, every error status is listed).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { apiRoutes, type ApiRoutes } from '../../src/http/api-routes.js';
import { DEFAULT_MAX_WAIT_MS } from '../../src/http/app.js';
import { errorCatalogue } from '../../src/http/errors.js';
import { buildOpenApiDocument } from '../../src/http/openapi.js';
import { errorBodySchema } from '../../src/http/response-schemas.js';
import { json, RAFT_HEADERS, testApp } from './helpers.js';

const committedPath = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
const REGENERATE = 'npx tsc -p tsconfig.json && node dist/src/cli/openapi.js > docs/openapi.json';

interface Operation { responses: Record<string, { $ref?: string; headers?: Record<string, unknown> }> }
type Document = { paths: Record<string, Record<string, Operation>>; components: { responses: Record<string, { headers: Record<string, unknown> }>; headers: Record<string, unknown> } };

t.test('docs/openapi.json is what the code generates, and valid OpenAPI 3.1', async (t) => {
  const generated = buildOpenApiDocument(apiRoutes(DEFAULT_MAX_WAIT_MS));
  const committed: unknown = JSON.parse(readFileSync(committedPath, 'utf8'));
  t.same(committed, generated, `docs/openapi.json is out of date: regenerate it with \`${REGENERATE}\``);
  const result = await new Validator().validate(generated as Record<string, unknown>);
  t.ok(result.valid, `valid OpenAPI 3.1: ${JSON.stringify(result.errors ?? []).slice(0, 2000)}`);
});

t.test('every status of the error catalogue and every Raft header is in the document', async (t) => {
  const document = buildOpenApiDocument(apiRoutes(DEFAULT_MAX_WAIT_MS)) as Document;
  const statuses = new Set(Object.values(document.paths).flatMap((item) => Object.values(item).flatMap((operation) => Object.keys(operation.responses))));
  for (const name of Object.keys(document.components.responses)) statuses.add(name.replace(/^Error([0-9]{3}).*$/, '$1'));
  for (const [code, entry] of Object.entries(errorCatalogue)) t.ok(statuses.has(String(entry.status)), `${code} (${entry.status}) is listed`);
  const described = JSON.stringify(document.components.responses);
  for (const code of Object.keys(errorCatalogue)) t.match(described, `\`${code}\``, `the answers name ${code}`);
  for (const header of ['X-Raft-Term', 'X-Raft-Index', 'X-Raft-Leader', 'X-Served-By', 'X-Staleness-Ms', 'X-Raft-Lag-Entries', 'Retry-After']) {
    t.ok(header in document.components.headers, `${header} is a described header`);
  }
  const readOk = document.paths['/v1/accounts/{id}']?.['get']?.responses['200'];
  t.ok(readOk?.headers?.['X-Staleness-Ms'] !== undefined && readOk.headers['X-Raft-Index'] !== undefined, 'a read answer names its staleness and index headers');
  for (const [name, response] of Object.entries(document.components.responses)) {
    t.ok('X-Raft-Term' in response.headers, `${name} carries the Raft headers`);
  }
});

t.test('GET /openapi.json is open, carries the Raft headers and describes this node (its wait_ms bound)', async (t) => {
  const { app } = testApp(t, { tokens: [{ token: 'secret', scopes: ['admin'] }], maxWaitMs: 5000 });
  const answer = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(answer.statusCode, 200, 'no token needed');
  t.match(answer.headers['content-type'], /application\/json/);
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `carries ${header}`);
  t.same(answer.json(), buildOpenApiDocument(apiRoutes(5000)));
  t.match(answer.body, 'a decimal integer 0..5000', 'wait_ms is bounded by this node\'s maxWaitMs');
  const api = await app.inject({ method: 'GET', url: '/v1/cluster' });
  t.equal(api.statusCode, 401, 'the API itself still needs the token');
});

t.test('the document lists exactly the routes the app registers', async (t) => {
  const registered = new Set<string>();
  const { app } = testApp(t, {
    extensions: [(root) => root.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') registered.add(`${method.toLowerCase()} ${route.url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    })],
  });
  await app.ready();
  const document = buildOpenApiDocument(apiRoutes(DEFAULT_MAX_WAIT_MS)) as Document;
  const documented = new Set(Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`)));
  documented.delete('get /metrics'); // registered by the metrics extension (src/node), which this app was built without
  t.same([...registered].sort(), [...documented].sort());
});

t.test('real answers parse with the response schemas of their routes', async (t) => {
  const { app } = testApp(t);
  const routes: ApiRoutes = apiRoutes(DEFAULT_MAX_WAIT_MS);
  const call = async (operation: keyof ApiRoutes, url: string, payload?: unknown) => {
    const route = routes[operation];
    const answer = await app.inject({ method: route.method, url, ...(payload === undefined ? {} : { headers: json, payload: JSON.stringify(payload) }) });
    t.equal(answer.statusCode, 200, `${operation}: ${answer.body.slice(0, 200)}`);
    const parsed = route.response.safeParse(answer.json());
    t.ok(parsed.success, `${operation} answers as described: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`);
  };
  await call('createAccounts', '/v1/accounts', { accounts: [{ id: 'a', ledger: 'USD', metadata: { k: 1 } }, { id: 'b', ledger: 'USD' }, { id: 'a', ledger: 'EUR' }] });
  await call('createTransfers', '/v1/transfers', [{ id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: '9223372036854775807', ledger: 'USD' }][0]);
  await call('createTransfers', '/v1/transfers', { transfers: [{ id: 'p1', debit_account_id: 'b', credit_account_id: 'a', amount: 5, ledger: 'USD', pending: true, timeout_ms: 60000 }] });
  await call('getAccount', '/v1/accounts/a');
  await call('getAccounts', '/v1/accounts?ids=a,nobody,b');
  await call('getAccountTransfers', '/v1/accounts/a/transfers?limit=1');
  await call('getTransfer', '/v1/transfers/p1');
  await call('createItems', '/v1/items', { items: [{ sku: 'pen', on_hand: 10 }] });
  await call('adjustItem', '/v1/items/pen/adjust', { id: 'adj1', delta: -1 });
  await call('getItem', '/v1/items/pen');
  await call('createReservation', '/v1/reservations', { id: 'r1', lines: [{ sku: 'pen', qty: 2 }], ttl_ms: 60000 });
  await call('createReservation', '/v1/reservations', { id: 'r2', lines: [{ sku: 'pen', qty: 200 }], ttl_ms: 60000 });
  await call('confirmReservation', '/v1/reservations/r1/confirm');
  await call('releaseReservation', '/v1/reservations/r1/release');
  await call('getReservation', '/v1/reservations/r1');
  await call('getCluster', '/v1/cluster');
  await call('takeSnapshot', '/v1/cluster/snapshot');
  await call('addMember', '/v1/cluster/members', { id: 'n9', url: 'http://127.0.0.1:7009' });
  await call('transferLeadership', '/v1/cluster/leadership', { to: 'n9' });
  await call('removeMember', '/v1/cluster/members/n9');

  const missing = await app.inject({ method: 'GET', url: '/v1/transfers/nobody' });
  t.equal(missing.statusCode, 404);
  t.ok(errorBodySchema.safeParse(missing.json()).success, 'an error answers with the described error body');
  const document = buildOpenApiDocument(routes) as Document;
  t.ok(document.paths['/v1/transfers/{id}']?.['get']?.responses['404'], 'and its status is listed for the operation');
});
