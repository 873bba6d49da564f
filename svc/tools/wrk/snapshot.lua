-- GET a random configuration as it was at a point of its application's history: by feed position (args[3] =
-- "seq", the line's second field) or by time (args[3] = "at", its third: the time that position was recorded).
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
local by
local load = init
function init(args)
  load(args)
  by = args[3]
end
function request()
  local i = math.random(#ids)
  local point = by == "seq" and ("seq=" .. tags[i]) or ("at=" .. names[i])
  return wrk.format("GET", "/api/v1/configurations/" .. ids[i] .. "/snapshot?" .. point)
end
