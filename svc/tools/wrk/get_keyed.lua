-- GET a random configuration with an API key: args[3] is the key's secret, sent as a bearer token.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
local read_ids = init
function init(args)
  read_ids(args)
  wrk.headers["Authorization"] = "Bearer " .. args[3]
end
function request()
  return wrk.format("GET", "/api/v1/configurations/" .. ids[math.random(#ids)])
end
