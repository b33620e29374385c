-- bench/get_random.lua: GET /flags/<name>, a uniformly random name per request.
-- Names come from the file named by TM_BENCH_NAMES (one per line, first field);
-- with TM_BENCH_AUTH set, each request carries it as a Bearer key.
-- Requests are pre-formatted once per thread in init() (not at load time:
-- wrk.format() only adds the Host header once wrk.host is known, and nginx
-- answers 400 to an HTTP/1.1 request without Host), so the per-request cost
-- in wrk is one table lookup: the same for our service and for nginx.
dofile((os.getenv("TM_BENCH_DIR") or "bench") .. "/report.lua")

function init(args)
  seed_random()
  -- TM_BENCH_AUTH: a key to send (authentication on), else none.
  local key = os.getenv("TM_BENCH_AUTH")
  local headers = key and { Authorization = "Bearer " .. key } or nil
  local reqs = {}
  for line in io.lines(os.getenv("TM_BENCH_NAMES")) do
    local name = line:match("^(%S+)")
    if name then reqs[#reqs + 1] = wrk.format("GET", "/flags/" .. name, headers) end
  end
  set_requests(reqs)
end

request = random_request
