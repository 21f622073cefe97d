-- POST /api/v1/cart/lines/ as signed-in app users (X-Session-Token), one unit of a product,
-- users and products taken in turn from the files in BENCH_TOKENS and BENCH_PRODUCTS.
local common = dofile("bench/lua/common.lua")
local tokens = common.lines(os.getenv("BENCH_TOKENS"))
local products = common.lines(os.getenv("BENCH_PRODUCTS"))
local i, j = 0, 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(#tokens)
  j = math.random(#products)
end

function request()
  i = i % #tokens + 1
  j = j % #products + 1
  local body = string.format('{"product": %s, "quantity": 1}', products[j])
  return wrk.format("POST", "/api/v1/cart/lines/", {
    ["Content-Type"] = "application/json",
    ["X-Session-Token"] = tokens[i],
  }, body)
end

done = common.done
