// How a follower receives a leader's snapshot, on real files: the image is
// written once, into the ledger's staging, and that very file becomes
// ledger.db; the Raft storage keeps only the metadata and descriptor. A later
// stream never removes the one the core accepted; staging is bounded; damage
// is refused before anything changes; a crash at any step of an install
// restarts consistent (the node's own start-up, on the real directory).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SnapshotRefusedError } from '../../src/ledger/index.js';
import { FileDriverStorage } from '../../src/node/driver-io.js';
import { LedgerNode, type NodeLogger } from '../../src/node/node.js';
import { MAX_STAGED_SNAPSHOTS } from '../../src/node/snapshot-inbox.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { SnapshotChecksumError } from '../../src/storage/errors.js';
import { temporaryDirectory } from '../support/helpers.js';
import { CONF, OLD_INDEX, SNAPSHOT_META, leaderSnapshot, oldFollower, openFollower, receive, type FollowerState } from './fixtures/install-setup.js';

const quiet: NodeLogger = { info() {}, warn() {}, error() {} };
const snapshot = leaderSnapshot();
const IMAGE_BYTES = snapshot.byteLength - 80;

const stagedFiles = (dataDir: string): string[] => fs.readdirSync(dataDir).filter((name) => name.includes('.staged-'));
const raftSnapshotBytes = (dataDir: string): number =>
  fs.readdirSync(path.join(dataDir, 'raft')).filter((name) => name.endsWith('.snap')).reduce((sum, name) => sum + fs.statSync(path.join(dataDir, 'raft', name)).size, 0);

t.test('a received snapshot reaches disk once: its staged image is renamed to be ledger.db, the Raft storage keeps only metadata', async (t) => {
  const dataDir = temporaryDirectory(t, 'inbox-once');
  const follower = oldFollower(dataDir);
  receive(follower.inbox, SNAPSHOT_META, snapshot);
  const [staged, ...others] = stagedFiles(dataDir);
  t.same(others, [], 'one staged image');
  const stagedStat = fs.statSync(path.join(dataDir, staged as string));
  t.equal(stagedStat.size, IMAGE_BYTES, `the image went into the staged file as it arrived (${IMAGE_BYTES} bytes)`);
  t.equal(follower.ledger.appliedIndex(), OLD_INDEX, 'staging changes nothing');
  t.equal(follower.storage.snapshotMeta().index, 0);

  follower.inbox.install(SNAPSHOT_META);
  t.equal(fs.statSync(path.join(dataDir, 'ledger.db')).ino, stagedStat.ino, 'ledger.db is the staged file itself: renamed, not copied');
  t.same(stagedFiles(dataDir), [], 'nothing staged is left');
  t.ok(raftSnapshotBytes(dataDir) < 1024, `the Raft storage holds no second copy (${raftSnapshotBytes(dataDir)} bytes of snapshot files for a ${IMAGE_BYTES}-byte image)`);
  t.ok(follower.storage.snapshotIsDetached());
  t.same(follower.storage.snapshotMeta(), SNAPSHOT_META);
  t.equal(follower.storage.firstIndex(), SNAPSHOT_META.index + 1, 'the log restarts after the snapshot');
  t.equal(follower.ledger.appliedIndex(), SNAPSHOT_META.index);
  t.ok(follower.ledger.queries.account('new-1'), 'the ledger holds the snapshot\'s state');
  t.notOk(follower.ledger.queries.account('old-1'), 'and nothing of its own');
  t.ok(follower.ledger.verifyChain().ok);
  await close(follower);
});

t.test('a snapshot accepted by the core installs even after a later stream from another sender finished', async (t) => {
  const dataDir = temporaryDirectory(t, 'inbox-later');
  const follower = oldFollower(dataDir);
  const later: SnapshotMeta = { index: 55, term: 3, conf: CONF };
  receive(follower.inbox, SNAPSHOT_META, snapshot); // the core steps its snap message and accepts it...
  t.throws(() => receive(follower.inbox, later, snapshot), SnapshotRefusedError, 'a snapshot whose state is not at its index is refused');
  receive(follower.inbox, SNAPSHOT_META, snapshot); // ...and the same one arrives again from another sender before the Ready runs
  t.equal(stagedFiles(dataDir).length, 2);
  follower.inbox.install(SNAPSHOT_META);
  t.equal(follower.ledger.appliedIndex(), SNAPSHOT_META.index);
  t.same(stagedFiles(dataDir), [], 'the copy it covers is discarded');
  await close(follower);
});

t.test('staging is bounded: beyond the limit a new stream is refused, none already staged is dropped', async (t) => {
  const dataDir = temporaryDirectory(t, 'inbox-bound');
  const follower = oldFollower(dataDir);
  for (let i = 0; i < MAX_STAGED_SNAPSHOTS; i++) receive(follower.inbox, SNAPSHOT_META, snapshot);
  t.throws(() => follower.inbox.receive(SNAPSHOT_META), /await installation, the most kept/);
  t.equal(stagedFiles(dataDir).length, MAX_STAGED_SNAPSHOTS, 'every staged image is still there');
  follower.inbox.install(SNAPSHOT_META);
  t.same(stagedFiles(dataDir), [], 'installing drops those it covers');
  await close(follower);
});

t.test('a damaged stream is refused before anything changes, and leaves no file', async (t) => {
  const dataDir = temporaryDirectory(t, 'inbox-damage');
  const follower = oldFollower(dataDir);
  t.throws(() => receive(follower.inbox, SNAPSHOT_META, snapshot, crc32c(snapshot) ^ 1), SnapshotChecksumError, 'the sender\'s checksum does not match');
  const flipped = Buffer.from(snapshot);
  flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 0x10;
  t.throws(() => receive(follower.inbox, SNAPSHOT_META, flipped), { name: 'SnapshotRefusedError', message: /image checksum mismatch/ }, 'the image is not what its header says');
  t.throws(() => receive(follower.inbox, SNAPSHOT_META, snapshot.subarray(0, 60)), { name: 'SnapshotRefusedError', message: /not a ledger snapshot/ });
  t.same(stagedFiles(dataDir), []);
  t.throws(() => follower.inbox.install(SNAPSHOT_META), /was not received/);
  t.equal(follower.ledger.appliedIndex(), OLD_INDEX);
  t.equal(follower.storage.snapshotMeta().index, 0);
  await close(follower);
});

async function close(follower: FollowerState): Promise<void> {
  follower.ledger.close();
  await follower.storage.close();
}

/** Starts a node on `dataDir` (not its protocol): its start-up reconciles the ledger with the Raft storage. */
function restart(dataDir: string): LedgerNode {
  return new LedgerNode({
    id: 'n2',
    dataDir,
    peers: new Map(CONF.voters.map((id) => [id, `http://${id}.test`])),
    storage: FileDriverStorage.open(dataDir, { segmentSizeBytes: 64 * 1024 }),
    transport: () => ({ setPeers() {}, send() {}, sendSnapshot() {}, close: async () => {} }),
    logger: quiet,
  });
}

t.test('a crash at any step of an install restarts consistent: the old state and log whole, or the snapshot installed', async (t) => {
  const child = fileURLToPath(new URL('./fixtures/install-crash-child.js', import.meta.url));
  const steps: [string, 'old' | 'new'][] = [
    ['stream', 'old'], ['staged', 'old'], ['raft-record', 'new'], ['raft-reset', 'new'],
    ['ledger-read', 'new'], ['rm-wal', 'new'], ['rename', 'new'], ['renamed', 'new'], ['none', 'new'],
  ];
  for (const [step, expected] of steps) {
    const dataDir = temporaryDirectory(t, `inbox-crash-${step}`);
    const snapshotFile = path.join(dataDir, 'leader.snapshot');
    fs.writeFileSync(snapshotFile, snapshot);
    const run = spawnSync(process.execPath, [child, dataDir, snapshotFile, step], { encoding: 'utf8' });
    if (step === 'none') t.equal(run.status, 0, 'without a crash the install completes', { stderr: run.stderr });
    else t.equal(run.signal, 'SIGKILL', `killed at ${step}`, { stderr: run.stderr, stdout: run.stdout });
    const node = restart(dataDir);
    const applied = node.ledger.appliedIndex();
    const snapshotIndex = node.storage.snapshotMeta().index;
    t.ok(applied >= snapshotIndex, `${step}: the ledger (at ${applied}) is not behind the Raft snapshot (at ${snapshotIndex})`);
    t.ok(applied <= node.storage.lastIndex(), `${step}: nor ahead of the log (last ${node.storage.lastIndex()})`);
    if (expected === 'old') {
      t.equal(applied, OLD_INDEX, `${step}: the old state`);
      t.equal(snapshotIndex, 0, `${step}: and no snapshot`);
      t.equal(node.storage.lastIndex(), OLD_INDEX, `${step}: the old log`);
      t.ok(node.ledger.queries.account('old-3'));
    } else {
      t.equal(applied, SNAPSHOT_META.index, `${step}: the snapshot installed`);
      t.same(node.storage.snapshotMeta(), SNAPSHOT_META);
      t.equal(node.storage.firstIndex(), SNAPSHOT_META.index + 1, `${step}: the log restarts after it`);
      t.ok(node.ledger.queries.account('new-1'));
      t.notOk(node.ledger.queries.account('old-1'));
    }
    t.ok(node.ledger.verifyChain().ok, `${step}: the chain verifies`);
    t.same(stagedFiles(dataDir), [], `${step}: no staged image is left`);
    t.notOk(fs.readdirSync(dataDir).some((name) => name.endsWith('.tmp')), `${step}: nor a temporary file`);
    await node.stop();
  }
});

t.test('a recorded snapshot whose staged image is gone stops the start-up with what to do', async (t) => {
  const dataDir = temporaryDirectory(t, 'inbox-lost');
  const follower = oldFollower(dataDir);
  receive(follower.inbox, SNAPSHOT_META, snapshot);
  const [staged] = stagedFiles(dataDir);
  follower.storage.installSnapshot(SNAPSHOT_META, snapshot.subarray(0, 80)); // as the inbox records it, then the image is damaged
  fs.truncateSync(path.join(dataDir, staged as string), 4096);
  await close(follower);
  t.throws(() => restart(dataDir), /no staged image for it is intact.*remove this node's data directory/);
  const again = openFollower(dataDir);
  t.equal(again.ledger.appliedIndex(), OLD_INDEX, 'nothing was replaced');
  await close(again);
});
