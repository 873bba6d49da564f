-- POST /v3/kv/put of each line "key value" (both base64) of the file in args[1], in turn: etcd's HTTP/JSON gateway,
-- each put answered once its entry is in etcd's write-ahead log on disk (fsync, etcd's default). With args[2] = N > 0,
-- a thread keeps every N-th line starting at its own index (idx, set in setup), so threads share no key.
local counter = 0
function setup(thread)
  thread:set("idx", counter)
  counter = counter + 1
end
bodies, pos = {}, 0
function init(args)
  local i, every = 0, tonumber(args[2])
  for line in io.lines(args[1]) do
    local key, value = line:match("^(%S+) (%S+)$")
    if every == 0 or i % every == idx then
      table.insert(bodies, '{"key":"' .. key .. '","value":"' .. value .. '"}')
    end
    i = i + 1
  end
end
function request()
  pos = pos % #bodies + 1
  return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"}, bodies[pos])
end
