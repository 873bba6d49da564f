-- GET a random configuration with If-None-Match naming its current ETag: 304.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
function request()
  local i = math.random(#ids)
  return wrk.format("GET", "/api/v1/configurations/" .. ids[i], {["If-None-Match"] = '"' .. ids[i] .. '.' .. tags[i] .. '"'})
end
