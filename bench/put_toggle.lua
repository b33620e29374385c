-- bench/put_toggle.lua: PUT /flags/<name> {"is_enabled": <flipped>} on a
-- uniformly random flag. TM_BENCH_NAMES lists "name true|false" lines with the
-- current state (bench/run.py writes it just before each run), and every
-- request flips the state this thread last set, so with wrk -t1 each PUT is a
-- real change (as the pgbench ceiling's UPDATE ... SET is_enabled = NOT ...).
dofile((os.getenv("TM_BENCH_DIR") or "bench") .. "/report.lua")

local names, state = {}, {}
for line in io.lines(os.getenv("TM_BENCH_NAMES")) do
  local name, st = line:match("^(%S+)%s*(%S*)")
  if name then
    names[#names + 1] = name
    state[name] = (st == "true")
  end
end
local n = #names
local headers = { ["Content-Type"] = "application/json" }
local bodies = { [true] = '{"is_enabled":true}', [false] = '{"is_enabled":false}' }

function init(args)
  seed_random()
end

function request()
  local name = names[math.random(n)]
  local v = not state[name]
  state[name] = v
  return wrk.format("PUT", "/flags/" .. name, headers, bodies[v])
end
