-- PUT overrides with If-Match, as put.lua does configurations: each id is "<configuration>.<environment>" (an
-- override's ETag is "<configuration>.<environment>.<version>"); threads share no override.
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
  local configuration, environment = ids[pos]:match("^(%S+)%.(%S+)$")
  local body = '{"patch":{"region":"eu-central-1","feature_x":true,"n":' .. tags[pos] .. '}}'
  return wrk.format("PUT", "/api/v1/configurations/" .. configuration .. "/overrides/" .. environment,
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
