-- GET scenarios. BENCH_PATHS (optional): a file of paths, one a line, taken in turn
-- from a random starting point per thread, so the run is not one cached row.
local common = dofile("bench/lua/common.lua")
local paths = common.lines(os.getenv("BENCH_PATHS"))
local i = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  if #paths > 0 then i = math.random(#paths) end
end

function request()
  if #paths == 0 then return wrk.format("GET") end
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

done = common.done
