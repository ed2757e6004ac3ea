-- One wrk script for every workload of `make bench` (bench/compare.ts) and
-- `make bench-scale`, chosen by environment variables so that both systems are
-- driven by the same client code:
--
--   BENCH_WORKLOAD   transfers | account_read | etcd_put | etcd_range
--   BENCH_RUN        a tag unique to this phase (part of every id and key
--                    written, so no write repeats an earlier one)
--   BENCH_ACCOUNTS   how many pre-created accounts / etcd keys to pick from
--   BENCH_BATCH      transfers per request (transfers)
--   BENCH_QUERY      query string of account reads, e.g. consistency=stale
--   BENCH_SERIALIZABLE  "true" for serializable etcd ranges
--   BENCH_ETCD_PREFIX   /v3 or /v3beta (what the installed etcd serves)
--
-- done() prints one line "BENCH_RESULT {json}" that bench/wrk.ts parses:
-- requests, duration, socket errors, non-2xx count, latency percentiles, and
-- for transfers the item results counted in the answers.

local workload = os.getenv("BENCH_WORKLOAD") or "transfers"
local run = os.getenv("BENCH_RUN") or "r"
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "1000")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local query = os.getenv("BENCH_QUERY") or "consistency=linearizable"
local serializable = os.getenv("BENCH_SERIALIZABLE") == "true"
local etcd_prefix = os.getenv("BENCH_ETCD_PREFIX") or "/v3"

-- Only the main Lua state runs setup() and done(); each thread runs the rest
-- in its own Lua state, whose globals thread:set/thread:get reach.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

-- Per-thread state: globals, so that done() can read them with thread:get
-- (setup() has set thread_number before init() runs).
thread_number = thread_number or 0
created = 0
item_errors = 0
first_error = ""
local counter = 0
local json_headers = { ["Content-Type"] = "application/json" }
-- 128 bytes of value, base64 (etcd's JSON gateway takes bytes as base64).
local etcd_value = string.rep("dmFsdWUt", 21) .. "dmFs"

function init(args)
  math.randomseed(thread_number * 7919 + os.time())
end

-- Account pairs are random and distinct; balances may go negative (the
-- accounts have no constraint flags), so every transfer is valid.
local function transfer_json()
  counter = counter + 1
  local debit = math.random(0, accounts - 1)
  local credit = (debit + math.random(1, accounts - 1)) % accounts
  return string.format(
    '{"id":"%s-%d-%d","debit_account_id":"acct-%d","credit_account_id":"acct-%d","amount":%d,"ledger":"USD"}',
    run, thread_number, counter, debit, credit, math.random(1, 1000))
end

-- Keys are written as base64 directly: an alphanumeric string whose length is
-- a multiple of 4 is valid base64, so no encoder is needed on either side.
local function etcd_write_key()
  counter = counter + 1
  local key = string.format("%s%04d%08d", run, thread_number, counter)
  return key .. string.rep("A", (4 - #key % 4) % 4)
end

local function etcd_read_key()
  return string.format("cmVh%08d", math.random(0, accounts - 1))
end

function request()
  if workload == "transfers" then
    if batch == 1 then
      return wrk.format("POST", "/v1/transfers", json_headers, transfer_json())
    end
    local items = {}
    for i = 1, batch do items[i] = transfer_json() end
    return wrk.format("POST", "/v1/transfers", json_headers, '{"transfers":[' .. table.concat(items, ",") .. ']}')
  elseif workload == "account_read" then
    return wrk.format("GET", string.format("/v1/accounts/acct-%d?%s", math.random(0, accounts - 1), query))
  elseif workload == "etcd_put" then
    local body = string.format('{"key":"%s","value":"%s"}', etcd_write_key(), etcd_value)
    return wrk.format("POST", etcd_prefix .. "/kv/put", json_headers, body)
  elseif workload == "etcd_range" then
    local extra = serializable and ',"serializable":true' or ""
    return wrk.format("POST", etcd_prefix .. "/kv/range", json_headers, string.format('{"key":"%s"%s}', etcd_read_key(), extra))
  end
  error("unknown BENCH_WORKLOAD " .. workload)
end

local function count(body, pattern)
  local _, n = string.gsub(body, pattern, "")
  return n
end

function response(status, headers, body)
  if workload ~= "transfers" or status ~= 200 then
    if status >= 300 and first_error == "" and body then first_error = status .. " " .. string.sub(body, 1, 300) end
    return
  end
  created = created + count(body, '"status":"created"')
  local errors = count(body, '"status":"error"')
  if errors > 0 then
    item_errors = item_errors + errors
    -- The refused item itself: in a batch it may be far into the body.
    if first_error == "" then first_error = string.match(body, '{[^{}]*"status":"error"[^{}]*}') or string.sub(body, 1, 300) end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local total_created, total_item_errors, error_sample = 0, 0, ""
  for _, thread in ipairs(threads) do
    total_created = total_created + (thread:get("created") or 0)
    total_item_errors = total_item_errors + (thread:get("item_errors") or 0)
    local sample = thread:get("first_error") or ""
    if error_sample == "" then error_sample = sample end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"items_created":%d,"item_errors":%d,"error_sample":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    total_created, total_item_errors, json_string(error_sample)))
end
