// ledgerd's data directory at start: locked by one owner, recorded as one
// node of one cluster; founders agree on a derived cluster id; a damaged
// identity file refuses to start rather than being overwritten.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { derivedClusterId, StartupError, takeDataDir } from '../../src/cli/data-dir.js';
import { temporaryDirectory } from '../support/helpers.js';

const peers = 'n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002,n3=http://127.0.0.1:7003';

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = temporaryDirectory(t, 'data-dir');
  return dir;
}

t.test('founders derive one cluster id whatever the order of --peers; the secret makes it differ', async (t) => {
  t.equal(derivedClusterId(['n1', 'n2', 'n3'], 'secret-0123456789'), derivedClusterId(['n3', 'n1', 'n2'], 'secret-0123456789'));
  t.not(derivedClusterId(['n1', 'n2', 'n3'], 'secret-0123456789'), derivedClusterId(['n1', 'n2', 'n3'], 'secret-9876543210'));
  t.not(derivedClusterId(['n1', 'n2', 'n3'], undefined), derivedClusterId(['n1', 'n2'], undefined));
});

t.test('the first start records the identity; later starts check it; the lock is released with the owner', async (t) => {
  const dir = path.join(scratch(t), 'n1');
  const config = loadConfig(['--id', 'n1', '--data', dir, '--peers', peers], {});
  const first = takeDataDir(dir, config, undefined);
  t.equal(first.note, 'recorded');
  t.same(JSON.parse(readFileSync(path.join(dir, 'identity.json'), 'utf8')), { format: 1, node_id: 'n1', cluster_id: derivedClusterId(['n1', 'n2', 'n3'], undefined) });
  t.throws(() => takeDataDir(dir, config, undefined), StartupError, 'a second owner in the same process is refused too');
  first.lock.release();
  const again = takeDataDir(dir, config, undefined);
  t.equal(again.note, 'checked');
  again.lock.release();
  t.throws(() => takeDataDir(dir, loadConfig(['--id', 'n1', '--data', dir, '--peers', peers, '--cluster-id', 'other'], {}), undefined),
    /belongs to cluster c-[0-9a-f]{16}, not other/);
  t.throws(() => takeDataDir(dir, config, 'joined-elsewhere'), /belongs to cluster c-[0-9a-f]{16}, not joined-elsewhere/, 'the --join member\'s id is checked');
  const lockFree = takeDataDir(dir, config, undefined);
  lockFree.lock.release();
  t.pass('a refused start released the lock');
});

t.test('a --cluster-id that differs from the --join member\'s refuses before touching the directory', async (t) => {
  const dir = path.join(scratch(t), 'n4');
  const config = loadConfig(['--id', 'n4', '--data', dir, '--join', 'http://127.0.0.1:7001', '--cluster-id', 'mine'], {});
  t.throws(() => takeDataDir(dir, config, 'theirs'), /--cluster-id mine but http:\/\/127\.0\.0\.1:7001 belongs to cluster theirs/);
  const joined = takeDataDir(dir, config, 'mine');
  t.equal(joined.identity.clusterId, 'mine');
  joined.lock.release();
});

t.test('a damaged identity file refuses to start and is left as it is', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'identity.json'), '{"format":1,"node_id":"n1"');
  const config = loadConfig(['--id', 'n1', '--data', dir, '--peers', peers], {});
  t.throws(() => takeDataDir(dir, config, undefined), /identity\.json is not a valid identity file/);
  t.equal(readFileSync(path.join(dir, 'identity.json'), 'utf8'), '{"format":1,"node_id":"n1"');
});

t.test('a directory with node data from before identities were recorded is adopted', async (t) => {
  const dir = scratch(t);
  writeFileSync(path.join(dir, 'ledger.db'), '');
  const owned = takeDataDir(dir, loadConfig(['--id', 'n2', '--data', dir, '--peers', peers, '--cluster-id', 'prod'], {}), undefined);
  t.equal(owned.note, 'adopted');
  t.same(owned.identity, { nodeId: 'n2', clusterId: 'prod' });
  owned.lock.release();
});
