// ledgerd's configuration: flags over environment variables, defaults, and
// errors that name the flag and its variable.

import t from 'tap';
import { ConfigError, exposureOf, isLoopbackHost, loadConfig } from '../src/config.js';

const peers = 'n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:7003';

t.test('flags, environment and defaults', async (t) => {
  const config = loadConfig(['--id', 'n1', '--data', '/tmp/x', '--peers', peers], { LEDGER_LISTEN: '127.0.0.1:7101', LEDGER_TICK_MS: '25' });
  t.equal(config.id, 'n1');
  t.equal(config.listen, '127.0.0.1:7101', 'from the environment');
  t.equal(config.tickMs, 25);
  t.equal(config.peers.get('n2'), 'http://127.0.0.1:7002');
  t.equal(config.electionTicks, 20, 'default');
  t.ok(Object.isFrozen(config));
  const flagWins = loadConfig(['--id=n2', '--data=/tmp/y', `--peers=${peers}`, '--tick-ms=10'], { LEDGER_TICK_MS: '25' });
  t.equal(flagWins.tickMs, 10, 'a flag overrides its variable');
  t.equal(flagWins.id, 'n2');
});

t.test('errors name the flag, the variable and the fix', async (t) => {
  const attempt = (argv: string[], env: NodeJS.ProcessEnv = {}): string => {
    try {
      loadConfig(argv, env);
    } catch (error) {
      t.type(error, ConfigError);
      return (error as Error).message;
    }
    return 'no error';
  };
  t.match(attempt(['--id', 'n1', '--data', 'd']), /--peers \(LEDGER_PEERS\).*--join/);
  t.match(attempt(['--id', 'n9', '--data', 'd', '--peers', peers]), /must list this node \(n9\)/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--tick-ms', 'fast']), /--tick-ms \(LEDGER_TICK_MS\): expected an integer/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', 'n1=ftp://x']), /--peers/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--bogus', '1']), /unknown argument --bogus/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--listen', 'nohost']), /--listen \(LEDGER_LISTEN\): expected host:port/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--cluster-secret', 'short']), /at least 16/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--join', 'http://127.0.0.1:7001', '--peers', peers]), /exclude each other/);
  t.match(attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--tokens', 'abcdefghijklmnopq=owner']), /--tokens/);
  t.match(
    attempt(['--id', 'n1', '--data', 'd', '--peers', peers, '--election-ticks', '3', '--max-clock-drift', '0.49']),
    /--election-ticks \(LEDGER_ELECTION_TICKS\).*lease of -1 ticks/,
    'a lease too short for lease reads is refused at start, naming the flag',
  );
});

t.test('loopback detection', async (t) => {
  t.ok(isLoopbackHost('127.0.0.1:7001'));
  t.ok(isLoopbackHost('127.3.4.5:1'));
  t.ok(isLoopbackHost('localhost:80'));
  t.ok(isLoopbackHost('[::1]:7001'));
  t.notOk(isLoopbackHost('0.0.0.0:7001'));
  t.notOk(isLoopbackHost('10.0.0.5:7001'));
});

t.test('--insecure is a switch; LEDGER_INSECURE takes 1/true or 0/false', async (t) => {
  const base = ['--id', 'n1', '--data', 'd', '--peers', peers];
  t.equal(loadConfig(base, {}).insecure, false, 'off by default');
  t.equal(loadConfig([...base, '--insecure'], {}).insecure, true, 'the flag takes no value');
  t.equal(loadConfig(['--insecure', ...base], {}).insecure, true, 'and does not swallow the next flag');
  t.equal(loadConfig(base, { LEDGER_INSECURE: '1' }).insecure, true);
  t.equal(loadConfig(base, { LEDGER_INSECURE: 'false' }).insecure, false);
  t.throws(() => loadConfig(base, { LEDGER_INSECURE: 'maybe' }), /--insecure \(LEDGER_INSECURE\): expected 1\/true or 0\/false/);
  t.equal(loadConfig([...base, '--cluster-id', 'prod-eu'], {}).clusterId, 'prod-eu');
  t.throws(() => loadConfig([...base, '--cluster-id', 'no spaces'], {}), /--cluster-id \(LEDGER_CLUSTER_ID\)/);
});

t.test('a port beyond loopback without its credential is refused, naming flag and credential; on loopback it is a warning', async (t) => {
  const exposure = (argv: string[]) => exposureOf(loadConfig(['--id', 'n1', '--data', 'd', '--peers', peers, ...argv], {}));
  const loopback = exposure([]);
  t.same(loopback.refusals, []);
  t.same(loopback.warnings, [
    'peer RPCs on 127.0.0.1:7001 without a cluster secret (--cluster-secret or LEDGER_CLUSTER_SECRET): open to any process on this machine',
    'the client API on 127.0.0.1:7001 without client tokens (--tokens or LEDGER_TOKENS): open to any process on this machine',
  ], 'each missing credential is named');

  const secured = exposure(['--listen', '0.0.0.0:7001', '--cluster-secret', '0123456789abcdef', '--tokens', '0123456789abcdefgh=admin']);
  t.same(secured, { refusals: [], warnings: [] }, 'with both credentials nothing is said');

  const peersOpen = exposure(['--peer-listen', '0.0.0.0:7101', '--tokens', '0123456789abcdefgh=admin']);
  t.equal(peersOpen.refusals.length, 1);
  t.match(peersOpen.refusals[0], /^--peer-listen 0\.0\.0\.0:7101 serves peer RPCs beyond loopback without a cluster secret \(--cluster-secret or LEDGER_CLUSTER_SECRET\).*--insecure/);

  const shared = exposure(['--listen', '10.0.0.5:7001']);
  t.equal(shared.refusals.length, 2, 'one port serving both needs both');
  t.match(shared.refusals[0], /^--listen 10\.0\.0\.5:7001 serves peer RPCs/);
  t.match(shared.refusals[1], /^--listen 10\.0\.0\.5:7001 serves the client API beyond loopback without client tokens/);

  const accepted = exposure(['--listen', '10.0.0.5:7001', '--insecure']);
  t.same(accepted.refusals, [], '--insecure accepts the risk');
  t.equal(accepted.warnings.length, 2);
  t.match(accepted.warnings[1], /open to anyone who reaches it \(--insecure\)/);
});
