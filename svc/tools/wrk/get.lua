-- GET a random configuration.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
function request()
  return wrk.format("GET", "/api/v1/configurations/" .. ids[math.random(#ids)])
end
