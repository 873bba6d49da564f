-- POST /v3/kv/range for a random key of the file in args[1] (one base64 key a line): etcd's HTTP/JSON gateway,
-- a linearizable read (etcd's default).
keys = {}
function init(args)
  for line in io.lines(args[1]) do table.insert(keys, line) end
end
function request()
  return wrk.format("POST", "/v3/kv/range", {["Content-Type"] = "application/json"},
                    '{"key":"' .. keys[math.random(#keys)] .. '"}')
end
