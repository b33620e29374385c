-- bench/post_random.lua: POST of a JSON body to one path (wrk's URL), a
-- uniformly random body per request out of the file named by
-- TM_BENCH_BODIES (one body per line): OFREP evaluations with varied
-- contexts. Requests are pre-formatted once per thread in init(), as in
-- get_random.lua, so wrk's per-request cost is the same for every target.
dofile((os.getenv("TM_BENCH_DIR") or "bench") .. "/report.lua")

function init(args)
  seed_random()
  local headers = {["Content-Type"] = "application/json"}
  local reqs = {}
  for line in io.lines(os.getenv("TM_BENCH_BODIES")) do
    if #line > 0 then reqs[#reqs + 1] = wrk.format("POST", wrk.path, headers, line) end
  end
  set_requests(reqs)
end

request = random_request
