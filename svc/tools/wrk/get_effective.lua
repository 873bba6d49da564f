-- GET the effective view of a random configuration in the environment args[3].
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
local environment
local load = init
function init(args)
  load(args)
  environment = args[3]
end
function request()
  return wrk.format("GET", "/api/v1/configurations/" .. ids[math.random(#ids)] .. "/effective?environment_id=" .. environment)
end
