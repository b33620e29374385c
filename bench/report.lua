-- bench/report.lua: shared by the wrk scripts (loaded with dofile).
--
-- done() prints one line "TM_WRK_JSON {...}" that bench/run.py parses, so the
-- harness does not depend on wrk's human-readable output. Latencies are in
-- microseconds. errors.status counts responses with status >= 400 (wrk's own
-- "Non-2xx or 3xx responses" counter); any non-zero error makes the run invalid.
-- The per-thread random seed is handed out in setup() so runs are repeatable.

local next_tid = 0
function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function seed_random()
  math.randomseed(4242 + 7919 * (tid or 0))
end

-- Requests pre-formatted in init() (set_requests), one picked uniformly at
-- random per request (a script sets request = random_request): the
-- per-request cost in wrk is one table lookup, the same for every target.
local pool, pool_n = {}, 0
function set_requests(list)
  pool, pool_n = list, #list
end

function random_request()
  return pool[math.random(pool_n)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'TM_WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
