// The operator console's files (GET /ui) and the member table it reads
// (GET /v1/cluster/nodes): the files are open and carry a self-only
// Content-Security-Policy; the member table asks each member with the
// caller's token and says which members did not answer.

import { createServer } from 'node:net';
import t from 'tap';
import { errorOf, testApp } from './helpers.js';

const TOKENS = [{ token: 'reader-token', scopes: ['read'] as const }];
const reader = { authorization: 'Bearer reader-token' };

t.test('the console is served without a token, with a strict CSP, and nothing else under /ui', async (t) => {
  const { app } = testApp(t, { tokens: TOKENS });
  const page = await app.inject({ method: 'GET', url: '/ui' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<script src="\/ui\/console\.js"/, 'the page loads its script from this origin');
  t.notMatch(page.body, /<script>|\son[a-z]+="/, 'no inline script or handler (the CSP would refuse it)');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self'/);
  t.match(csp, /connect-src 'self'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/, 'nothing beyond this origin');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal((await app.inject({ method: 'GET', url: '/ui/' })).body, page.body, '/ui/ is the same page');

  const script = await app.inject({ method: 'GET', url: '/ui/console.js' });
  t.equal(script.statusCode, 200);
  t.match(script.headers['content-type'], /^text\/javascript/);
  t.equal(script.headers['content-security-policy'], csp);
  t.match((await app.inject({ method: 'GET', url: '/ui/console.css' })).headers['content-type'], /^text\/css/);

  for (const url of ['/ui/../package.json', '/ui/%2e%2e%2fpackage.json', '/ui/secrets.txt', '/ui/index.html/x']) {
    const refused = await app.inject({ method: 'GET', url });
    t.equal(refused.statusCode, 404, `${url} is not served`);
    t.equal(errorOf(refused).code, 'route_not_found');
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/cluster/nodes' })).statusCode, 401, 'the data behind the page still needs the token');
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

t.test("GET /v1/cluster/nodes: each member's own view, asked with the caller's token", async (t) => {
  const { app: other } = testApp(t, { tokens: TOKENS }, { nodeId: 'n2' });
  const otherUrl = await other.listen({ host: '127.0.0.1', port: 0 });
  const { app, service } = testApp(t, { tokens: TOKENS });
  await service.addMember('n2', otherUrl, true, 1000);
  await service.addMember('n3', `http://127.0.0.1:${await closedPort()}`, true, 1000);

  const answer = await app.inject({ method: 'GET', url: '/v1/cluster/nodes', headers: reader });
  t.equal(answer.statusCode, 200, answer.body);
  const nodes = answer.json<{ nodes: { id: string; status: { id: string; role: string } | null; error: { code: string } | null }[] }>().nodes;
  t.same(nodes.map((node) => node.id), ['n1', 'n2', 'n3']);
  t.same(nodes[0]?.status?.id, 'n1', "this node's own status");
  t.same([nodes[1]?.status?.id, nodes[1]?.status?.role, nodes[1]?.error], ['n2', 'leader', null], "n2's status as n2 reports it, with the token passed on");
  t.same([nodes[2]?.status, nodes[2]?.error?.code], [null, 'unreachable'], 'n3 cannot be reached, and says so');

  const wrong = await app.inject({ method: 'GET', url: '/v1/cluster/nodes?consistency=stale' , headers: reader });
  t.equal(wrong.statusCode, 400, 'no parameters');
  t.equal(errorOf(wrong).code, 'invalid_query');
});
