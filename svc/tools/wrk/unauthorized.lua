-- GET the URL's path with the bearer token args[1], which the service must refuse: prints how many answers were not
-- 401 ("Not 401: N"), which the bench counts as errors.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  wrong = 0
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
function response(status, headers, body)
  if status ~= 401 then
    wrong = wrong + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("wrong")
  end
  io.write("Not 401: " .. n .. "\n")
end
