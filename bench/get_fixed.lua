-- bench/get_fixed.lua: GET of one fixed path (wrk's URL), with the shared
-- done() report. No request() function: wrk sends its pre-built request.
dofile((os.getenv("TM_BENCH_DIR") or "bench") .. "/report.lua")
