-- Each wrk thread writes its own share of the ids, in turn, never two PUTs of one id at once (writes.lua); each
-- If-Match names the version the last answer's ETag gave for that id.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "writes.lua")
local counter = 0
function setup(thread)
  thread:set("idx", counter)
  counter = counter + 1
end
function request()
  local at = next_free()
  local body = '{"name":"' .. names[at] .. '","config":{"host":"db.internal","port":5432,"ssl":true,"n":' .. tags[at] .. '}}'
  return wrk.format("PUT", "/api/v1/configurations/" .. ids[at],
    {["Content-Type"] = "application/json", ["If-Match"] = '"' .. ids[at] .. '.' .. tags[at] .. '"'}, body)
end
function response(status, headers, body)
  answered(headers, body, function(instance) return instance:match("/configurations/([^/]+)$") end)
end
