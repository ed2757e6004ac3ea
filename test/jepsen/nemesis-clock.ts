// Clock faults on one node through libfaketime (Debian's faketime package,
// installed by scripts/jepsen-install.sh). When the clock nemesis is selected
// every node runs with libfaketime preloaded and its own timestamp file
// (re-read when its one-second cache expires), so the skew of one node
// changes within CLOCK_APPLIES_WITHIN_MS and the others stay at "+0"; the
// start and stop events are recorded once that time has passed.
//
// What each clock reads (measured with Node 20 under libfaketime 0.9.10):
// Date.now() (CLOCK_REALTIME) follows the offset; performance.now() and
// process.hrtime (CLOCK_MONOTONIC) follow it too unless
// FAKETIME_DONT_FAKE_MONOTONIC=1, and then move by the faked absolute time,
// which to the node is a jump of decades. We set FAKETIME_DONT_FAKE_MONOTONIC,
// so this nemesis moves the wall clock only: it attacks entry time stamps
// (hold and pending-transfer expiry), and the signed peer requests' skew
// window, not the monotonic clock that leases and elections use. Switching the
// rate ("x2") of a running process would make its monotonic clock jump
// (backwards when slowed), which no real clock does; the clock-rate nemeses
// (nemesis-clock-rate.ts) restart a node under a rate instead.

import { existsSync } from 'node:fs';
import { sleep } from './cluster.js';
import type { Nemesis } from './nemesis.js';
import { leaderOrAny } from './nemesis.js';

const FAKETIME_LIBRARIES = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];

export function faketimeLibrary(): string | undefined {
  return FAKETIME_LIBRARIES.find((file) => existsSync(file));
}

/** A new offset is in effect by then: libfaketime's cache lasts 1 s (measured: 1.8 s at worst). */
export const CLOCK_APPLIES_WITHIN_MS = 2500;

/** Offsets in seconds: small (inside the peer skew window) and large jumps, both ways. */
const OFFSETS_SECONDS = [-300, -30, -2, 2, 30, 300];

export const clockSkew: Nemesis = {
  name: 'clock',
  startF: 'clock-skew',
  stopF: 'clock-reset',
  unavailable: () => (faketimeLibrary() ? undefined : 'libfaketime not found (run scripts/jepsen-install.sh, which installs Debian\'s faketime)'),
  start: async (context) => {
    const node = context.rng.chance(0.5) ? await leaderOrAny(context) : context.rng.pick(context.cluster.memberIds());
    const offsetSeconds = context.rng.pick(OFFSETS_SECONDS);
    const spec = `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}s`;
    context.cluster.setClock(node, spec);
    await sleep(CLOCK_APPLIES_WITHIN_MS);
    return {
      details: { node, offset: spec },
      stop: async () => {
        context.cluster.setClock(node, '+0');
        await sleep(CLOCK_APPLIES_WITHIN_MS);
        return { node, offset: '+0' };
      },
    };
  },
};
