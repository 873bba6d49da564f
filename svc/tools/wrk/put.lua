-- Each wrk thread writes its own share of the ids, in turn, so no two requests in flight share an id; each
-- If-Match names the version the last answer's ETag gave for that id.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
local counter, index = 0, nil
function setup(thread)
  thread:set("idx", counter)
  counter = counter + 1
end
function request()
  if index == nil then
    index = {}
    for i, id in ipairs(ids) do index[id] = i end
  end
  pos = pos % #ids + 1
  local body = '{"name":"' .. names[pos] .. '","config":{"host":"db.internal","port":5432,"ssl":true,"n":' .. tags[pos] .. '}}'
  return wrk.format("PUT", "/api/v1/configurations/" .. ids[pos],
    {["Content-Type"] = "application/json", ["If-Match"] = '"' .. ids[pos] .. '.' .. tags[pos] .. '"'}, body)
end
function response(status, headers, body)
  local etag = headers["etag"] or headers["ETag"]
  if etag then
    local id, version = etag:match('^"(%S+)%.(%d+)"$')
    local i = id and index[id]
    if i then tags[i] = tonumber(version) end
  end
end
