-- wrk script used by bench/run.sh for every wrk scenario.
--
-- Configured through the environment so that one script serves all scenarios:
--   BENCH_TOKEN   if set, sent as "Authorization: Bearer <token>" (redisgate; webdis needs none)
--   BENCH_METHOD  HTTP method (default: the one wrk uses, GET)
--   BENCH_BODY    request body (the /pipeline JSON); sets Content-Type: application/json
--   BENCH_HEADER  one more request header, "Name: value" (e.g. "Upstash-Encoding: base64")
--   BENCH_TALLY   "1": count responses per HTTP status (slower: wrk then parses every response)
--
-- Requests are static (no request() function), so wrk stays on its fast path. done() prints
-- one machine-readable line that run.sh parses:
--   BENCH requests=N duration_us=N rps=X p50_us=X p99_us=X max_us=X connect=N read=N write=N timeout=N non2xx=N [status=200:N,503:N]
-- "non2xx" is wrk's errors.status, which counts HTTP statuses > 399.

local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
end

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local header = os.getenv("BENCH_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

local tally = os.getenv("BENCH_TALLY") == "1"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

counts = {}

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function init(args)
  if not tally then
    response = nil -- keeps wrk from parsing headers and bodies
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local line = string.format(
    "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%.1f p99_us=%.1f max_us=%.1f connect=%d read=%d write=%d timeout=%d non2xx=%d",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50.0), latency:percentile(99.0), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status)
  if tally then
    local total = {}
    for _, t in ipairs(threads) do
      local c = t:get("counts") or {}
      for status, n in pairs(c) do
        total[status] = (total[status] or 0) + n
      end
    end
    local keys = {}
    for status in pairs(total) do table.insert(keys, status) end
    table.sort(keys)
    local parts = {}
    for _, status in ipairs(keys) do
      table.insert(parts, string.format("%d:%d", status, total[status]))
    end
    if #parts == 0 then parts = { "none" } end
    line = line .. " status=" .. table.concat(parts, ",")
  end
  io.write(line .. "\n")
end
