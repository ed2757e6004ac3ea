// ledgerd's configuration: flags over environment variables, defaults, and
// errors that name the flag and its variable.

import t from 'tap';
import { ConfigError, isLoopbackHost, loadConfig } from '../src/config.js';

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
