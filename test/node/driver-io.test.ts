// The driver's file storage as production uses it: snapshots received from
// leaders are staged until the core accepts one, and a later stream never
// removes the one the core accepted.

import t from 'tap';
import { FileDriverStorage } from '../../src/node/driver-io.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { entryData, snapshotData } from '../storage/fixtures/helpers.js';
import { temporaryDirectory } from '../support/helpers.js';

const conf = { voters: ['n1', 'n2', 'n3'], learners: [] };

function receive(storage: FileDriverStorage, from: string, meta: SnapshotMeta, data: Uint8Array): void {
  const sink = storage.stageSnapshot(from, meta);
  sink.write(data.subarray(0, 100));
  sink.write(data.subarray(100));
  sink.commit(crc32c(data));
}

t.test('a snapshot accepted by the core installs even after a later stream from another sender finished', async (t) => {
  const storage = FileDriverStorage.open(temporaryDirectory(t, 'driver-io-staging'), { segmentSizeBytes: 64 * 1024 });
  const accepted: SnapshotMeta = { index: 40, term: 2, conf };
  const later: SnapshotMeta = { index: 55, term: 3, conf };
  const image = entryData(40, 2, 5000);
  receive(storage, 'n1', accepted, image); // the core steps its snap message and accepts it...
  receive(storage, 'n3', later, entryData(55, 3, 5000)); // ...and another stream completes before the Ready runs
  t.ok(snapshotData(storage.installStagedSnapshot(accepted)).equals(Buffer.from(image)), 'the accepted image is installed');
  t.same(storage.snapshotMeta(), accepted);
  t.equal(storage.firstIndex(), 41, 'the log restarts after it');
  t.ok(snapshotData(storage.installStagedSnapshot(later)).length > 0, 'the later one is still there for the core to accept');
  await storage.close();
});
