# raft-ledger: every target installs what is missing first, so a fresh clone
# needs only Node.js 20 and make.

NODE_MODULES_STAMP := node_modules/.install-stamp
SIM_SEEDS ?= 1..200
SIM_STEPS ?= 3000

.PHONY: all install build client typecheck test run sim sim-long clean jepsen jepsen-smoke jepsen-install bench bench-quick bench-scale bench-install bench-wal bench-apply bench-json prometheus-install browser-install monitoring-check

all: build

# JOBS=max: node-gyp compiles better-sqlite3 (no prebuilt binary here) on
# every core; measured 485 s -> 292 s for `npm rebuild better-sqlite3` on a
# loaded 2-core machine.
# `tap build` after every install: npm ci leaves tap built with its default
# plugins, the TypeScript loader among them, whatever package.json's tap
# config says; that loader added about 3 s to every test file's start (86
# files), though the tests are compiled JavaScript.
$(NODE_MODULES_STAMP): package.json package-lock.json
	JOBS=max npm ci --no-audit --no-fund
	npx tap build
	@touch $@

install: $(NODE_MODULES_STAMP)

# tsc runs only when a source it reads changed: an incremental tsc still
# parses every file (15-60 s here), which `make run` paid on every start.
# The stamp also marks the package's bins executable (npm bin links need it).
TS_SOURCES := $(shell find src test bench -name '*.ts')
BUILD_STAMP := dist/.build-stamp
BINS := dist/src/cli/ledgerd.js dist/src/cli/ledgerctl.js dist/src/cli/local-cluster.js

$(BUILD_STAMP): $(NODE_MODULES_STAMP) tsconfig.json $(TS_SOURCES)
	npx tsc -p tsconfig.json
	chmod +x $(BINS)
	@touch $@

build: install $(BUILD_STAMP)

# The TypeScript client (client/, docs/client.md), compiled with the server's
# zod schemas it takes its types from; its tests run in `make test`'s tap run
# against real ledgerd processes from dist/.
CLIENT_SOURCES := $(shell find client/src client/test -name '*.ts') src/ledger/schemas.ts src/ledger/codes.ts src/http/errors.ts src/http/response-schemas.ts test/cluster/harness.ts
CLIENT_STAMP := client/dist/.build-stamp

$(CLIENT_STAMP): $(NODE_MODULES_STAMP) client/tsconfig.json tsconfig.json $(CLIENT_SOURCES)
	npx tsc -p client/tsconfig.json
	@touch $@

client: install $(CLIENT_STAMP)

typecheck: install
	npx tsc -p tsconfig.json --noEmit

# Build (which type-checks everything under src/, test/ and bench/) and the
# client, then run every tap test (the client's too), including the simulator
# on a fixed set of seeds. tap runs two files at a time; a test that starts
# processes or a cluster, or waits on real time, belongs in package.json's
# tap.serial list, whose files run alone.
test: build client prometheus-install browser-install
	npx tap

# A local 3-node cluster on 127.0.0.1:7001-7003 with data under ./data
# (LEDGER_BASE_PORT and LEDGER_DATA_ROOT move them); Ctrl-C stops all three
# cleanly (a leader hands over first). Rebuilds only what changed.
run: build
	node dist/src/cli/local-cluster.js

sim: build
	node dist/test/sim/cli.js --seeds $(SIM_SEEDS) --steps $(SIM_STEPS) --nodes 3
	node dist/test/sim/cli.js --seeds $(SIM_SEEDS) --steps $(SIM_STEPS) --nodes 5
	node dist/test/sim/cli.js --driver --seeds $(SIM_SEEDS) --steps $(SIM_STEPS) --nodes 3

# A long sweep for nightly runs (hours on two cores): long runs of 20000 ms of
# faults per seed, where liveness problems show (docs/raft.md has the figures).
sim-long: build
	node dist/test/sim/cli.js --seeds 1..1000 --steps 20000 --nodes 3
	node dist/test/sim/cli.js --seeds 1..1000 --steps 20000 --nodes 5
	node dist/test/sim/cli.js --driver --seeds 1..200 --steps 20000 --nodes 3
	node dist/test/sim/cli.js --driver --seeds 1..100 --steps 20000 --nodes 5
	STORAGE_CRASH_ITERATIONS=1000 node dist/test/storage/crash.test.js

clean:
	rm -rf dist

# Jepsen-style fault runs against real ledgerd processes (docs/jepsen.md).
# Each run writes a folder under $(JEPSEN_OUT) with history.jsonl, report.json
# and report.html, and exits non-zero on a violation (or a run that failed).
JEPSEN_OUT ?= jepsen-runs
JEPSEN_SEED ?= 1
JEPSEN = node dist/test/jepsen/cli.js --seed $(JEPSEN_SEED)

# About 60 s: 3 nodes, bank, a partition, a kill and a pause.
jepsen-smoke: build jepsen-install
	$(JEPSEN) --nodes 3 --time-limit 45 --concurrency 8 --workload bank \
	  --nemesis partition-random-halves,kill-leader,pause-follower --out $(JEPSEN_OUT)/smoke-$(JEPSEN_SEED)

# The matrix, about 6 minutes of load (plus start-up and final reads): every
# nemesis at least once but clock-rate-beyond (its stale lease reads are
# expected: it runs only with --no-lease-linearizable, docs/jepsen.md, which
# would relax a whole line), 3 and 5 nodes, both workloads, partitions through the
# proxy; then every partition once more as iptables rules between network
# namespaces (--net netns; exit 77, refused with the reason printed, where
# that cannot run: not root, not Linux, a container). Stops at the first run
# that fails; every run's folder stays for reading.
jepsen: build jepsen-install
	$(JEPSEN) --nodes 3 --time-limit 60 --workload bank \
	  --nemesis partition-random-halves,partition-leader,partition-one-way,kill-one,kill-leader,pause-leader --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-bank-3
	$(JEPSEN) --nodes 5 --time-limit 60 --workload bank \
	  --nemesis partition-majorities-ring,partition-bridge,kill-minority,kill-all,pause-follower --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-bank-5
	$(JEPSEN) --nodes 3 --time-limit 60 --workload bank \
	  --nemesis membership,leadership,clock,clock-rate --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-bank-3-cluster
	$(JEPSEN) --nodes 5 --time-limit 60 --workload reservations \
	  --nemesis partition,clock,kill-leader --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-reservations-5
	$(JEPSEN) --nodes 3 --time-limit 60 --workload reservations \
	  --nemesis disk,pause-leader,membership --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-reservations-3
	$(JEPSEN) --net netns --nodes 5 --time-limit 60 --workload bank \
	  --nemesis partition --out $(JEPSEN_OUT)/matrix-$(JEPSEN_SEED)-bank-5-netns || [ $$? -eq 77 ]

# libfaketime for the clock and clock-rate nemeses, iproute2 and iptables for --net netns
# (exit 77 = cannot here: the clock nemeses are then skipped and --net netns
# refused, each with the reason printed).
jepsen-install:
	bash scripts/jepsen-install.sh || [ $$? -eq 77 ]

# Benchmarks print ratios measured side by side in one run; see docs/benchmarks.md.
# raft-ledger beside a 3-member etcd, same wrk load, one system at a time;
# prints the issue-9 targets as PASS/MISS (for reading: the exit status says
# only whether the run worked) and writes bench/results/latest.json. Settings:
# BENCH_CONNECTIONS, BENCH_SECONDS, ... (header of bench/compare.ts).
bench: build bench-install
	node dist/bench/compare.js

# The same with 2 s per phase after 3 s of warm-up, for iterating (figures of a cold JIT: not for reporting).
bench-quick: build bench-install
	BENCH_SECONDS=$${BENCH_SECONDS:-2} BENCH_WARMUP_SECONDS=$${BENCH_WARMUP_SECONDS:-3} node dist/bench/compare.js

# raft-ledger as load and state grow: writes at 1-256 connections, memory with
# 1M accounts and up to 10M transfers (time-bounded load), restart and
# snapshot catch-up times. Long (15-30 min); settings in bench/scale.ts.
bench-scale: build bench-install
	node dist/bench/scale.js

# etcd-server and wrk from Debian's packages when missing; unlike the test
# tools, a bench without them cannot run, so exit 77 (cannot here) fails too.
bench-install:
	bash scripts/bench-install.sh

bench-wal: build
	node dist/bench/wal.js

bench-apply: build
	node dist/bench/apply.js

bench-json: build
	node dist/bench/json-parse.js

# Installs prometheus/promtool from Debian's packages when missing (exit 77 =
# cannot here: the monitoring tests then skip and say why).
prometheus-install:
	bash scripts/prometheus-install.sh || [ $$? -eq 77 ]

# Debian's chromium for the operator console's browser test (exit 77 = cannot
# here: that test then skips and says why).
browser-install:
	bash scripts/browser-install.sh || [ $$? -eq 77 ]

monitoring-check: prometheus-install
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/alerts.test.yml
