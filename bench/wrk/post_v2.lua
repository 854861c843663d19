-- POST the bytes of $BENCH_BODY (built by v2_bench.py) with optional headers: a
-- Content-Type ($BENCH_CTYPE, none when empty, as tritonclient sends none), the
-- Inference-Header-Content-Length of a binary request ($BENCH_HEADER_LENGTH), a token.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
local function set(name, value)
  if value and value ~= "" then wrk.headers[name] = value end
end
set("Content-Type", os.getenv("BENCH_CTYPE"))
set("Inference-Header-Content-Length", os.getenv("BENCH_HEADER_LENGTH"))
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
