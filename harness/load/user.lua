-- wrk script for the seed's endpoint: GET /user/<prefix>-<n>, n cycling
-- through a small key set, so both cold misses and steady hits occur.
-- Arguments (after "--"): the key prefix and the number of keys.
-- It counts status codes and the X-Cache header per thread, and done()
-- prints them as one line the harness parses:
--   COHERENCE-WRK statuses 200=123,500=1 cache hit=120,miss=4
local prefix, nkeys, counter = "coh", 16, 0
statuses, cache = {}, {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or prefix
  nkeys = tonumber(args[2]) or nkeys
end

function request()
  local n = counter % nkeys
  counter = counter + 1
  return wrk.format("GET", "/user/" .. prefix .. "-" .. n)
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  local c = headers["X-Cache"] or "none"
  cache[c] = (cache[c] or 0) + 1
end

local function merge(into, from)
  for k, v in pairs(from) do into[k] = (into[k] or 0) + v end
end

local function render(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, k .. "=" .. v) end
  table.sort(parts)
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  local all_statuses, all_cache = {}, {}
  for _, t in ipairs(threads) do
    merge(all_statuses, t:get("statuses"))
    merge(all_cache, t:get("cache"))
  end
  io.write("COHERENCE-WRK statuses ", render(all_statuses), " cache ", render(all_cache), "\n")
end
