-- Shared by every scenario. done() prints one line the orchestrator parses:
-- requests, duration, p50/p99 latency (microseconds), non-2xx/3xx responses, socket errors.

local M = {}

function M.lines(path)
  local out = {}
  if not path then return out end
  local fh = assert(io.open(path, "r"))
  for line in fh:lines() do
    if #line > 0 then out[#out + 1] = line end
  end
  fh:close()
  return out
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %.0f, "p99_us": %.0f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end

return M
