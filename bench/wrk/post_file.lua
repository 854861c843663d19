-- POST the bytes of $BENCH_BODY with Content-Type $BENCH_CTYPE (built by serve_bench.py);
-- a GET of the URL when $BENCH_BODY is empty (loop_fairness.py).
--
-- $BENCH_WARM_MS > 0: each connection's first request waits that long, so that every
-- connection is open (accepted by the server) before the load starts, and the latencies
-- are those of established connections, as a keep-alive client pool sees them. Without
-- it, the k-th of the connections wrk opens at once waits for the server to accept it
-- while the first k-1 keep it busy (libuv, under uvloop, accepts one connection per
-- loop iteration). wrk times a request from its write, so the pause is not counted.
-- $BENCH_WARM_CONNS: the connections of one wrk thread (wrk's Lua state is per thread).
local path = os.getenv("BENCH_BODY") or ""
if path ~= "" then
  local f = assert(io.open(path, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE")
end
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local warm_ms = tonumber(os.getenv("BENCH_WARM_MS") or "0") or 0
if warm_ms > 0 then
  local first = tonumber(os.getenv("BENCH_WARM_CONNS") or "0") or 0
  local sent = 0
  function delay()
    sent = sent + 1
    if sent <= first then
      return warm_ms  -- the first request of each of this thread's connections
    end
    return 0
  end
end
