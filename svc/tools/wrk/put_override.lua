-- PUT overrides with If-Match, as put.lua does configurations: each id is "<configuration>.<environment>" (an
-- override's ETag is "<configuration>.<environment>.<version>"); threads share no override.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "ids.lua")
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "writes.lua")
local counter = 0
function setup(thread)
  thread:set("idx", counter)
  counter = counter + 1
end
function request()
  local at = next_free()
  local configuration, environment = ids[at]:match("^(%S+)%.(%S+)$")
  local body = '{"patch":{"region":"eu-central-1","feature_x":true,"n":' .. tags[at] .. '}}'
  return wrk.format("PUT", "/api/v1/configurations/" .. configuration .. "/overrides/" .. environment,
    {["Content-Type"] = "application/json", ["If-Match"] = '"' .. ids[at] .. '.' .. tags[at] .. '"'}, body)
end
function response(status, headers, body)
  answered(headers, body, function(instance)
    local configuration, environment = instance:match("/configurations/([^/]+)/overrides/([^/]+)$")
    return configuration and (configuration .. "." .. environment)
  end)
end
